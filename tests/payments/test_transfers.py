"""FSPIOP transfers through the switch: the asynchronous pattern, positions, duplicates, limits,
fulfilment checks, expiry, and the errors of §7.6 — callbacks received over real HTTP."""

from __future__ import annotations

import json
import time

import pytest
from joserfc.jwk import RSAKey

from dpistack.core.timeutil import iso, utcnow
from dpistack.payments import fspiop
from dpistack.payments.check import check

from .conftest import ADMIN, send, transfer_body


@pytest.fixture
def banks(scheme):
    return scheme, scheme.fsp("alpha-bank"), scheme.fsp("beta-wallet")


def prepare(payer, body, **kw):
    r = send(payer, "POST", "/transfers", body, destination=body["payeeFsp"], **kw)
    return r


def fulfil(payee, body, fulfilment, state="COMMITTED", **kw):
    put = {"transferState": state, "fulfilment": fulfilment, "completedTimestamp": iso(utcnow())}
    return send(payee, "PUT", f"/transfers/{body['transferId']}", put, destination=body["payerFsp"], **kw)


def test_a_transfer_is_reserved_forwarded_committed_and_relayed(banks, platform):
    scheme, alpha, beta = banks
    body, fulfilment = transfer_body("alpha-bank", "beta-wallet", "12.5")
    r = prepare(alpha, body)
    assert r.status_code == 202 and r.content == b""
    assert scheme.position("alpha-bank")["reservedValue"] == 12.5  # held before the answer came back
    [forwarded] = scheme.receiver.wait("beta-wallet", "/transfers", "POST")
    assert forwarded["body"] == body  # relayed as sent
    assert forwarded["headers"]["fspiop-source"] == "alpha-bank"
    assert forwarded["headers"]["fspiop-destination"] == "beta-wallet"
    assert forwarded["headers"]["content-type"] == "application/vnd.interoperability.transfers+json;version=1.1"

    r = fulfil(beta, body, fulfilment)
    assert r.status_code == 200
    [put] = scheme.receiver.wait("alpha-bank", f"/transfers/{body['transferId']}", "PUT")
    assert put["body"]["transferState"] == "COMMITTED" and put["body"]["fulfilment"] == fulfilment
    assert put["headers"]["fspiop-source"] == "beta-wallet" and "accept" not in put["headers"]
    assert scheme.position("alpha-bank")["value"] == 12.5 and scheme.position("alpha-bank")["reservedValue"] == 0
    assert scheme.position("beta-wallet")["value"] == -12.5
    assert check(platform) == []


def test_the_payee_answering_reserved_is_told_by_patch(banks):
    scheme, alpha, beta = banks
    body, fulfilment = transfer_body("alpha-bank", "beta-wallet")
    prepare(alpha, body)
    scheme.receiver.wait("beta-wallet", "/transfers", "POST")
    assert fulfil(beta, body, fulfilment, state="RESERVED").status_code == 200
    [patch] = scheme.receiver.wait("beta-wallet", f"/transfers/{body['transferId']}", "PATCH")
    assert patch["body"]["transferState"] == "COMMITTED" and "fulfilment" not in patch["body"]
    assert patch["headers"]["fspiop-source"] == "Hub"
    [put] = scheme.receiver.wait("alpha-bank", f"/transfers/{body['transferId']}", "PUT")
    assert put["body"]["transferState"] == "COMMITTED" and put["headers"]["fspiop-source"] == "Hub"


def test_a_resend_is_ignored_while_in_flight_answered_when_done_and_a_changed_one_is_3106(banks):
    scheme, alpha, beta = banks
    body, fulfilment = transfer_body("alpha-bank", "beta-wallet", "5")
    prepare(alpha, body)
    assert prepare(alpha, body).status_code == 202
    scheme.receiver.wait("beta-wallet", "/transfers", "POST")
    time.sleep(0.2)
    assert len(scheme.receiver.messages("beta-wallet", "/transfers", "POST")) == 1  # not forwarded twice
    assert scheme.position("alpha-bank")["reservedValue"] == 5  # not reserved twice

    fulfil(beta, body, fulfilment)
    scheme.receiver.wait("alpha-bank", f"/transfers/{body['transferId']}", "PUT")
    prepare(alpha, body)  # the same body once more: the current state again
    puts = scheme.receiver.wait("alpha-bank", f"/transfers/{body['transferId']}", "PUT", count=2)
    assert puts[-1]["body"]["transferState"] == "COMMITTED" and puts[-1]["headers"]["fspiop-source"] == "Hub"

    changed = {**body, "amount": {"amount": "6", "currency": "USD"}}
    prepare(alpha, changed)
    [error] = scheme.receiver.wait("alpha-bank", f"/transfers/{body['transferId']}/error", "PUT")
    assert error["body"]["errorInformation"]["errorCode"] == "3106"
    assert scheme.position("alpha-bank")["value"] == 5


def test_liquidity_and_the_net_debit_cap_are_never_exceeded(scheme, platform):
    alpha = scheme.fsp("alpha-bank", ndc="100", funds="50")
    scheme.fsp("beta-wallet")
    first, _ = transfer_body("alpha-bank", "beta-wallet", "40")
    too_much, _ = transfer_body("alpha-bank", "beta-wallet", "20")
    prepare(alpha, first)
    prepare(alpha, too_much)
    [error] = scheme.receiver.wait("alpha-bank", f"/transfers/{too_much['transferId']}/error", "PUT")
    assert error["body"]["errorInformation"]["errorCode"] == "4001"  # 40 + 20 > 50 of funds
    assert error["headers"]["fspiop-source"] == "Hub"
    scheme.fund("alpha-bank", "1000")
    over_cap, _ = transfer_body("alpha-bank", "beta-wallet", "61")
    prepare(alpha, over_cap)
    [error] = scheme.receiver.wait("alpha-bank", f"/transfers/{over_cap['transferId']}/error", "PUT")
    assert error["body"]["errorInformation"]["errorCode"] == "4200"  # 40 + 61 > the cap of 100
    assert scheme.position("alpha-bank")["reservedValue"] == 40
    assert check(platform) == []


def test_a_wrong_fulfilment_aborts_and_both_fsps_hear_it(banks, platform):
    scheme, alpha, beta = banks
    body, _ = transfer_body("alpha-bank", "beta-wallet")
    prepare(alpha, body)
    scheme.receiver.wait("beta-wallet", "/transfers", "POST")
    wrong = "A" * 43
    assert fulfil(beta, body, wrong).status_code == 200
    for fsp in ("alpha-bank", "beta-wallet"):
        [error] = scheme.receiver.wait(fsp, f"/transfers/{body['transferId']}/error", "PUT")
        assert error["body"]["errorInformation"]["errorCode"] == "3100"
        assert "fulfilment" in error["body"]["errorInformation"]["errorDescription"]
    assert scheme.position("alpha-bank")["reservedValue"] == 0 and scheme.position("alpha-bank")["value"] == 0
    assert check(platform) == []


def test_only_the_payee_may_fulfil(banks, scheme):
    scheme, alpha, beta = banks
    third = scheme.fsp("gamma-bank")
    body, fulfilment = transfer_body("alpha-bank", "beta-wallet")
    prepare(alpha, body)
    scheme.receiver.wait("beta-wallet", "/transfers", "POST")
    fulfil(third, body, fulfilment)
    [error] = scheme.receiver.wait("gamma-bank", f"/transfers/{body['transferId']}/error", "PUT")
    assert error["body"]["errorInformation"]["errorCode"] == "3100"
    assert scheme.position("alpha-bank")["reservedValue"] == 10  # still reserved: untouched


def test_an_expired_reservation_is_aborted_and_both_fsps_are_told(banks, platform):
    scheme, alpha, beta = banks
    body, fulfilment = transfer_body("alpha-bank", "beta-wallet", seconds=1)
    prepare(alpha, body)
    for fsp in ("alpha-bank", "beta-wallet"):
        [error] = scheme.receiver.wait(fsp, f"/transfers/{body['transferId']}/error", "PUT", seconds=15)
        assert error["body"]["errorInformation"]["errorCode"] == "3303"
    assert scheme.position("alpha-bank")["reservedValue"] == 0
    fulfil(beta, body, fulfilment)  # too late
    errors = scheme.receiver.wait("beta-wallet", f"/transfers/{body['transferId']}/error", "PUT", count=2)
    assert errors[-1]["body"]["errorInformation"]["errorCode"] == "3303"
    assert scheme.position("beta-wallet")["value"] == 0
    assert check(platform) == []


def test_the_payee_rejecting_releases_the_funds_and_the_payer_gets_its_error(banks):
    scheme, alpha, beta = banks
    body, _ = transfer_body("alpha-bank", "beta-wallet")
    prepare(alpha, body)
    scheme.receiver.wait("beta-wallet", "/transfers", "POST")
    r = send(beta, "PUT", f"/transfers/{body['transferId']}/error",
             {"errorInformation": {"errorCode": "5104", "errorDescription": "Payee rejected transaction"}},
             destination="alpha-bank")
    assert r.status_code == 200
    [error] = scheme.receiver.wait("alpha-bank", f"/transfers/{body['transferId']}/error", "PUT")
    assert error["body"]["errorInformation"]["errorCode"] == "5104" and error["headers"]["fspiop-source"] == "beta-wallet"
    assert scheme.position("alpha-bank")["reservedValue"] == 0


def test_get_transfer_is_answered_by_the_switch(banks):
    scheme, alpha, beta = banks
    body, fulfilment = transfer_body("alpha-bank", "beta-wallet")
    prepare(alpha, body)
    scheme.receiver.wait("beta-wallet", "/transfers", "POST")
    assert send(alpha, "GET", f"/transfers/{body['transferId']}").status_code == 202
    [put] = scheme.receiver.wait("alpha-bank", f"/transfers/{body['transferId']}", "PUT")
    assert put["body"] == {"transferState": "RESERVED"}
    unknown = "9b6c4a1e-2f3d-4c5b-8a7e-1d2c3b4a5f60"
    send(alpha, "GET", f"/transfers/{unknown}")
    [error] = scheme.receiver.wait("alpha-bank", f"/transfers/{unknown}/error", "PUT")
    assert error["body"]["errorInformation"]["errorCode"] == "3208"


@pytest.mark.parametrize("change, code, status", [
    ({"fspiop-source": "beta-wallet"}, "3100", 400),
    ({"content-type": "application/json"}, "3101", 400),
    ({"content-type": "application/vnd.interoperability.transfers+json;version=2.0"}, "3001", 406),
    ({"accept": "application/vnd.interoperability.transfers+json;version=3"}, "3001", 406),
    ({"date": "yesterday"}, "3101", 400),
])
def test_bad_headers_get_their_fspiop_error_and_change_nothing(banks, change, code, status):
    scheme, alpha, _ = banks
    body, _ = transfer_body("alpha-bank", "beta-wallet")
    r = prepare(alpha, body, headers=change)
    assert r.status_code == status
    assert r.json()["errorInformation"]["errorCode"] == code
    assert r.headers["content-type"].startswith("application/vnd.interoperability.")
    assert scheme.position("alpha-bank")["reservedValue"] == 0


@pytest.mark.parametrize("mutate, code", [
    (lambda b: b.pop("condition"), "3102"),
    (lambda b: b.update(surprise=1), "3103"),
    (lambda b: b["amount"].update(amount="1.50"), "3101"),
    (lambda b: b.update(transferId="not-a-uuid"), "3101"),
])
def test_a_body_outside_the_schema_is_refused_in_errorinformation(banks, mutate, code):
    scheme, alpha, _ = banks
    body, _ = transfer_body("alpha-bank", "beta-wallet")
    mutate(body)
    r = prepare(alpha, body)
    assert r.status_code == 400 and r.json()["errorInformation"]["errorCode"] == code
    assert not scheme.receiver.messages("beta-wallet")


def test_malformed_json_is_3101(banks):
    _, alpha, _ = banks
    r = send(alpha, "POST", "/transfers", raw=b'{"transferId": ', destination="beta-wallet")
    assert r.status_code == 400 and r.json()["errorInformation"]["errorCode"] == "3101"


def test_refusals_the_switch_finds_are_error_callbacks_and_recorded(banks, platform):
    scheme, alpha, _ = banks
    cases = {
        "3100 decimals": transfer_body("alpha-bank", "beta-wallet", "1.005")[0],
        "3100 currency": transfer_body("alpha-bank", "beta-wallet", currency="EUR")[0],
        "3100 payer": {**transfer_body("beta-wallet", "alpha-bank")[0]},  # alpha claims to be the payer beta
        "3100 unknown payee": transfer_body("alpha-bank", "nobody-bank")[0],
        "3100 expired": {**transfer_body("alpha-bank", "beta-wallet")[0], "expiration": "2020-01-01T00:00:00.000Z"},
    }
    for case, body in cases.items():
        assert prepare(alpha, body).status_code == 202, case
        [error] = scheme.receiver.wait("alpha-bank", f"/transfers/{body['transferId']}/error", "PUT")
        assert error["body"]["errorInformation"]["errorCode"] == case.split()[0], case
    assert not scheme.receiver.messages("beta-wallet")
    assert scheme.position("alpha-bank")["reservedValue"] == 0
    assert check(platform) == []


def test_an_fsp_with_a_signing_key_must_sign_and_its_signature_is_checked(banks):
    scheme, alpha, beta = banks
    key = RSAKey.generate_key(2048)
    r = scheme.hub.post(f"{ADMIN}/participants/alpha-bank/jwsKeys", json={"jwk": key.as_dict(private=False)})
    assert r.status_code == 201, r.text
    body, _ = transfer_body("alpha-bank", "beta-wallet")
    assert prepare(alpha, body).json()["errorInformation"]["errorCode"] == "3105"  # unsigned

    raw = json.dumps(body).encode()
    headers = fspiop.request_headers("transfers", "alpha-bank", "beta-wallet", "POST", "/transfers")
    headers["fspiop-signature"] = fspiop.sign(raw, headers, key, "RS256")
    assert send(alpha, "POST", "/transfers", raw=raw, headers=headers).status_code == 202
    [forwarded] = scheme.receiver.wait("beta-wallet", "/transfers", "POST")
    assert forwarded["raw"] == raw and forwarded["headers"]["fspiop-signature"] == headers["fspiop-signature"]

    second, _ = transfer_body("alpha-bank", "beta-wallet")
    raw2 = json.dumps(second).encode()
    headers["fspiop-signature"] = fspiop.sign(raw2, headers, key, "RS256")
    r = send(alpha, "POST", "/transfers", raw=raw2.replace(b'"10"', b'"11"'), headers=headers)
    assert r.status_code == 400 and r.json()["errorInformation"]["errorCode"] == "3105"  # body altered
    other = RSAKey.generate_key(2048)
    headers["fspiop-signature"] = fspiop.sign(raw2, headers, other, "RS256")
    assert send(alpha, "POST", "/transfers", raw=raw2, headers=headers).json()["errorInformation"]["errorCode"] == "3105"


def test_fspiop_needs_an_fsp_token(banks, actors):
    scheme, alpha, _ = banks
    body, _ = transfer_body("alpha-bank", "beta-wallet")
    r = alpha.http.post("/fspiop/transfers", json=body, headers=fspiop.request_headers(
        "transfers", "alpha-bank", "beta-wallet", "POST", "/transfers"))
    assert r.status_code == 401 and r.json()["errorInformation"]["errorCode"] == "3000"
    agency = actors("digital-agency")  # an authority, not an FSP
    r = send(agency, "POST", "/transfers", body, destination="beta-wallet")
    assert r.status_code == 403 and r.json()["errorInformation"]["errorCode"] == "3000"
    assert send(alpha, "GET", "/nothing-here").json()["errorInformation"]["errorCode"] == "3002"


def test_callbacks_travel_through_nats_jetstream_when_configured(jetstream_outbox, banks):
    """The cluster option (DPI_OUTBOX_URL): the same transfer, its callbacks handed to JetStream
    after the commit and delivered from the stream."""
    platform = jetstream_outbox
    scheme, alpha, beta = banks
    body, fulfilment = transfer_body("alpha-bank", "beta-wallet", "3")
    assert prepare(alpha, body).status_code == 202
    scheme.receiver.wait("beta-wallet", "/transfers", "POST")
    assert fulfil(beta, body, fulfilment).status_code == 200
    [put] = scheme.receiver.wait("alpha-bank", f"/transfers/{body['transferId']}", "PUT")
    assert put["body"]["transferState"] == "COMMITTED"
    assert platform.outbox.relay is not None and platform.outbox.relay.published >= 2  # both went by the stream
    assert check(platform) == []
