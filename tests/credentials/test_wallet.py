"""The holder wallet: it receives credentials by OpenID4VCI (with and without a transaction
code) and presents them by OpenID4VP, over HTTP only; its file is encrypted; its refusals.

Most tests drive :class:`Holder` against the app in process (the TestClient is an httpx
client); one journey runs `dpi wallet` against the platform served on a loopback socket."""

from __future__ import annotations

import json
import os
import stat
from urllib.parse import quote

import httpx
import pytest
from typer.testing import CliRunner

from dpistack.credentials import qr, sdjwt
from dpistack.credentials.wallet import Holder, WalletError
from dpistack.credentials.wallet_store import WalletFile, WalletStoreError, WrongPassphrase

from .people import PERSON, enrol_with_agent, kyc_for

VCT = "urn:dpistack:vct:national-id:1"
PRE_AUTH = "urn:ietf:params:oauth:grant-type:pre-authorized_code"
OVER_18 = {"credentials": [{"id": "id_card", "format": "dc+sd-jwt", "meta": {"vct_values": [VCT]},
                            "claims": [{"path": ["age_over_18"]}]}]}
FORMAT_ = "dc+sd-jwt"
FAST_KDF = 2 ** 14  # the file records its own scrypt cost; tests use the smallest a wallet accepts


def offer(agent, uin, **tx_code) -> dict:
    body = {"kyc": kyc_for(agent, uin)}
    if tx_code:
        body["tx_code"] = tx_code
    r = agent.post("/credentials/v1/offers", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def ask(rp, query=OVER_18) -> dict:
    r = rp.post("/credentials/v1/presentation-requests", json={"dcql_query": query})
    assert r.status_code == 201, r.text
    return r.json()


def outcome(rp, made) -> dict:
    return rp.get(f"/credentials/v1/presentation-requests/{made['id']}").json()


@pytest.fixture
def holder(client):
    return Holder({}, client, allow_http=True)  # the in-process issuer is http://testserver


def received(holder, made, tx_code=None) -> dict:
    [entry] = holder.receive(holder.parse_offer(made["credential_offer_uri"]), tx_code)
    return entry


def test_receive_a_credential_bound_to_a_fresh_key(world, holder):
    uin, agent = world
    entry = received(holder, offer(agent, uin))
    assert entry["vct"] == VCT and entry["issuer"] == "http://testserver" and entry["name"] == "National ID"
    payload = sdjwt.b64json(entry["credential"].split(".")[1])
    assert payload["cnf"]["jwk"] == {k: entry["key"][k] for k in ("kty", "crv", "x", "y")}
    names = {name for _, name, _ in sdjwt.disclosures_of(entry["credential"])}
    assert {"given_name", "family_name", "birthdate", "age_over_18"} <= names
    second = received(holder, offer(agent, uin))
    assert second["key"]["x"] != entry["key"]["x"]  # one key per credential
    assert [e["id"] for e in holder.credentials] == [entry["id"], second["id"]]


def test_receive_with_a_transaction_code(world, holder):
    uin, agent = world
    made = offer(agent, uin, length=6, description="We sent it by SMS")
    parsed = holder.parse_offer(made["credential_offer_uri"])
    assert parsed.tx_code == {"input_mode": "numeric", "length": 6, "description": "We sent it by SMS"}
    with pytest.raises(WalletError) as e:
        holder.receive(parsed)  # nothing is sent without the code
    assert e.value.code == "tx_code_required" and "SMS" in e.value.message
    with pytest.raises(WalletError) as e:
        holder.receive(parsed, "12ab56")  # the offer says digits: refused before it costs an attempt
    assert e.value.code == "bad_tx_code"
    wrong = "000000" if made["tx_code_value"] != "000000" else "111111"
    with pytest.raises(WalletError) as e:
        holder.receive(parsed, wrong)
    assert e.value.code == "token_refused" and "invalid_grant" in e.value.message and "attempts left" in e.value.message
    entry = received(holder, made, made["tx_code_value"])
    assert entry["vct"] == VCT
    # The same offer again (a replay, e.g. by someone who photographed the QR code): refused.
    with pytest.raises(WalletError) as e:
        received(holder, made, made["tx_code_value"])
    assert e.value.code == "token_refused" and "invalid_grant" in e.value.message
    assert len(holder.credentials) == 1


def test_an_offer_by_reference(world, client):
    """``credential_offer_uri``: the wallet fetches the offer with GET (here from another host)."""
    uin, agent = world
    made = offer(agent, uin)

    class Transport(httpx.BaseTransport):
        def handle_request(self, request):
            if request.url.host == "offers.example":
                return httpx.Response(200, json=made["credential_offer"])
            return client._transport.handle_request(request)

    with httpx.Client(transport=Transport()) as http:
        holder = Holder({}, http, allow_http=True)
        uri = "openid-credential-offer://?credential_offer_uri=" + quote("https://offers.example/o/1", safe="")
        [entry] = holder.receive(holder.parse_offer(uri))
    assert entry["vct"] == VCT


def test_present_only_over_18_to_a_verifier(world, holder, bar):
    uin, agent = world
    entry = received(holder, offer(agent, uin))
    made = ask(bar)
    request = holder.parse_request(made["authorization_request_uri"])
    assert request.client_id == made["authorization_request"]["client_id"]
    [match] = holder.match(request)
    assert match.entry is entry and match.disclose == ["age_over_18"]
    assert holder.present(request, [match]) == {}
    result = outcome(bar, made)
    assert result["status"] == "verified", result
    [card] = result["credentials"]["id_card"]
    assert card["claims"] == {"age_over_18": True} and card["holder_bound"] is True
    assert "Amina" not in json.dumps(result) and PERSON["birth_date"] not in json.dumps(result)
    # The same request again: the verifier refuses (its nonce is used), and the wallet says so.
    with pytest.raises(WalletError) as e:
        holder.present(request, [match])
    assert e.value.code == "verifier_refused" and "already answered" in e.value.message


def test_declining_tells_the_verifier(world, holder, bar):
    uin, agent = world
    received(holder, offer(agent, uin))
    made = ask(bar)
    holder.decline(holder.parse_request(made["authorization_request_uri"]), "the holder declined")
    result = outcome(bar, made)
    assert result["status"] == "refused" and result["error"] == "wallet_error"
    assert "access_denied" in result["error_description"]


def test_no_matching_credential(world, holder, bar):
    uin, agent = world
    request = holder.parse_request(ask(bar)["authorization_request_uri"])
    with pytest.raises(WalletError) as e:
        holder.match(request)  # an empty wallet
    assert e.value.code == "no_matching_credential" and "id_card" in e.value.message
    received(holder, offer(agent, uin))
    other_type = {"credentials": [{**OVER_18["credentials"][0], "meta": {"vct_values": ["urn:example:diploma"]}}]}
    not_there = {"credentials": [{**OVER_18["credentials"][0], "claims": [{"path": ["nationality"]}]}]}
    other_value = {"credentials": [{**OVER_18["credentials"][0],
                                    "claims": [{"path": ["family_name"], "values": ["Smith"]}]}]}
    for query in (other_type, not_there, other_value):
        with pytest.raises(WalletError) as e:
            holder.match(holder.parse_request(ask(bar, query)["authorization_request_uri"]))
        assert e.value.code == "no_matching_credential", query


@pytest.mark.parametrize("uri, code", [
    ("https://example.org/", "bad_uri"),
    ("mailto:someone@example.org", "bad_uri"),
    ("openid-credential-offer://?credential_offer=%7Bnot-json", "bad_uri"),
    ("openid-credential-offer://?credential_offer=%7B%7D&credential_offer_uri=https%3A%2F%2Fx", "bad_uri"),
    ("openid-credential-offer://?credential_offer=" + quote(json.dumps({
        "credential_issuer": "http://issuer.example", "credential_configuration_ids": ["x"],
        "grants": {PRE_AUTH: {"pre-authorized_code": "c"}}})), "insecure_url"),
    ("openid-credential-offer://?credential_offer=" + quote(json.dumps({
        "credential_issuer": "https://issuer.example", "credential_configuration_ids": ["x"],
        "grants": {"authorization_code": {}}})), "unsupported_offer"),
    ("openid-credential-offer://?credential_offer=" + quote(json.dumps({
        "credential_issuer": "https://issuer.example", "credential_configuration_ids": ["x"],
        "grants": [PRE_AUTH]})), "unsupported_offer"),
    ("openid-credential-offer://?credential_offer=" + quote(json.dumps({
        "credential_issuer": "https://issuer.example", "credential_configuration_ids": [],
        "grants": {PRE_AUTH: {"pre-authorized_code": "c"}}})), "bad_offer"),
])
def test_bad_offer_links(uri, code):
    with pytest.raises(WalletError) as e:
        Holder({}, httpx.Client()).parse_offer(uri)
    assert e.value.code == code, e.value.message


def test_bad_request_links(bar, holder):
    made = ask(bar)
    good = made["authorization_request_uri"]
    for uri, code in ((good.replace("openid4vp://", "ftp://"), "bad_uri"),
                      (good + "&request_uri=https%3A%2F%2Fevil.example%2Fr", "unsupported_request"),
                      (good.replace("client_id=redirect_uri%3A", "client_id=redirect_uri%3Ahttps%3A%2F%2Fevil.example"),
                       "bad_request"),
                      (good.replace("response_mode=direct_post", "response_mode=fragment"), "unsupported_request")):
        with pytest.raises(WalletError) as e:
            holder.parse_request(uri)
        assert e.value.code == code, uri


def test_malformed_dcql_is_refused_by_the_wallet():
    """A request made by some other verifier, parsed and matched with no network."""
    from urllib.parse import urlencode

    holder = Holder({"credentials": []}, httpx.Client())

    def request(dcql) -> str:
        cb = "https://verifier.example/cb"
        return "openid4vp://?" + urlencode({"client_id": "redirect_uri:" + cb, "response_type": "vp_token",
                                            "response_mode": "direct_post", "response_uri": cb, "nonce": "n",
                                            "state": "s", "dcql_query": json.dumps(dcql)})

    for dcql, code in (({"credentials": []}, "bad_request"),
                       ({"credentials": [{"format": FORMAT_}]}, "bad_request"),
                       ({"credentials": [{"id": "q", "format": FORMAT_, "claims": ["age_over_18"]}]}, "bad_request"),
                       ({"credentials": [{"id": "q", "format": FORMAT_, "claims": [{"path": []}]}]}, "bad_request"),
                       ({"credentials": [{"id": "q", "format": FORMAT_, "meta": {"vct_values": VCT}}]}, "bad_request"),
                       ({"credentials": [{"id": "q", "format": FORMAT_}], "credential_sets": []}, "unsupported_request")):
        with pytest.raises(WalletError) as e:
            holder.match(holder.parse_request(request(dcql)))
        assert e.value.code == code, dcql
    with pytest.raises(WalletError) as e:
        holder.parse_request(request({"credentials": [{"id": "q"}]}).replace("https%3A%2F%2Fverifier", "http%3A%2F%2Fverifier"))
    assert e.value.code == "insecure_url"


def test_the_wallet_file_is_encrypted_and_needs_its_passphrase(tmp_path):
    wallet = WalletFile.create(tmp_path / "w", "correct horse", n=FAST_KDF)
    wallet.data["credentials"].append({"id": "c-1", "claims": {"given_name": "Amina", "birthdate": "1990-04-12"}})
    wallet.save()
    raw = wallet.path.read_bytes()
    assert b"Amina" not in raw and b"1990-04-12" not in raw and b"c-1" not in raw
    assert stat.S_IMODE(os.stat(wallet.path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "w").st_mode) == 0o700
    assert WalletFile.open(tmp_path / "w", "correct horse").data == wallet.data
    with pytest.raises(WrongPassphrase):
        WalletFile.open(tmp_path / "w", "wrong horse")
    envelope = json.loads(raw)
    # The KDF parameters are authenticated with the ciphertext: changing them is detected.
    tampered = {**envelope, "kdf": {**envelope["kdf"], "n": 2 ** 15}}
    wallet.path.write_text(json.dumps(tampered))
    with pytest.raises(WrongPassphrase):
        WalletFile.open(tmp_path / "w", "correct horse")
    bomb = {**envelope, "kdf": {**envelope["kdf"], "n": 2 ** 30}}
    wallet.path.write_text(json.dumps(bomb))
    with pytest.raises(WalletStoreError, match="parameters"):
        WalletFile.open(tmp_path / "w", "correct horse")
    with pytest.raises(WalletStoreError, match="already"):
        WalletFile.create(tmp_path / "w", "correct horse", n=FAST_KDF)
    with pytest.raises(WalletStoreError, match="at least"):
        WalletFile.create(tmp_path / "v", "short")


# -- `dpi wallet` against the platform on a loopback socket ----------------------------------
@pytest.fixture
def live(tmp_path):
    """This platform served on 127.0.0.1 (its public URL), with Amina, an issuer agent and a bar,
    set up over the socket as any participant would."""
    from tests.conftest import Actors
    from dpistack.app import create_app
    from dpistack.core.config import Settings
    from dpistack.core.platform import Platform
    from dpistack.core.server import free_port, serve_in_thread

    port = free_port()
    platform = Platform.open(Settings(data_dir=tmp_path / "live", public_url=f"http://127.0.0.1:{port}",
                                      database_url=None))
    try:
        with serve_in_thread(create_app(platform), port=port) as base, \
                httpx.Client(base_url=base, timeout=30) as http:
            actors = Actors(platform, http)
            uin, agent = enrol_with_agent(actors)
            bar = actors.onboard("corner-bar", "relying-party", ["relying-party"], ["identity-authority"])
            yield uin, agent, bar
    finally:
        platform.close()


def dpi(*args, passphrase="a long passphrase", input=None):
    from dpistack.cli import app

    env = {"DPI_WALLET_PASSPHRASE": passphrase} if passphrase else {}
    result = CliRunner().invoke(app, ["wallet", *args], env=env, input=input)
    return result.exit_code, result.output  # stdout and stderr, as a terminal shows them


def flat(text: str) -> str:
    """Printed text with the terminal's line wrapping undone."""
    return " ".join(text.split())


def test_dpi_wallet_receives_and_presents_over_loopback(live, tmp_path):
    uin, agent, bar = live
    w = str(tmp_path / "wallet")
    assert dpi("init", "--wallet", w)[0] == 0
    made = offer(agent, uin, length=6, description="Sent by SMS")
    code, out = dpi("receive", made["credential_offer_uri"], "--wallet", w)
    assert code == 1 and "transaction code" in out and "Sent by SMS" in flat(out)
    code, out = dpi("receive", made["credential_offer_uri"], "--tx-code", made["tx_code_value"], "--wallet", w)
    assert code == 0, out
    assert "Received" in out and "age_over_18" in out
    [entry] = WalletFile.open(tmp_path / "wallet", "a long passphrase").data["credentials"]
    code, out = dpi("list", "--wallet", w)
    assert code == 0 and entry["id"] in out and "National ID" in out
    code, out = dpi("show", entry["id"], "--wallet", w)
    assert code == 0 and "given_name: \"Amina\"" in out and "age_over_18: true" in out

    # The bar asks for age_over_18; the holder agrees to share only that, and the bar gets only that.
    made = ask(bar)
    code, out = dpi("present", made["authorization_request_uri"], "--claims", "age_over_18", "--yes", "--wallet", w)
    assert code == 0, out
    assert made["authorization_request"]["client_id"] in out.replace("\n", "")
    assert "asks" in out and "age_over_18" in out
    assert "Shared age_over_18" in out
    result = outcome(bar, made)
    assert result["status"] == "verified" and result["credentials"]["id_card"][0]["claims"] == {"age_over_18": True}
    assert "Amina" not in json.dumps(result)
    # Answering again: the verifier's refusal is the wallet's error.
    code, out = dpi("present", made["authorization_request_uri"], "--yes", "--wallet", w)
    assert code == 1 and "already answered" in flat(out)

    # A request for more than the holder agreed to share is declined, and the verifier told.
    names = {"credentials": [{**OVER_18["credentials"][0], "claims": [{"path": ["given_name"]}]}]}
    made = ask(bar, names)
    code, out = dpi("present", made["authorization_request_uri"], "--claims", "age_over_18", "--wallet", w)
    assert code == 1 and "given_name" in out and "Declined" in out
    assert outcome(bar, made)["error"] == "wallet_error"
    # Asked on the terminal, the holder says no.
    made = ask(bar)
    code, out = dpi("present", made["authorization_request_uri"], "--wallet", w, input="n\n")
    assert code == 1 and "nothing was shared" in flat(out) and outcome(bar, made)["status"] == "refused"

    # A printed card: its QR code shows only age_over_18 and verifies with the issuer's keys.
    svg = tmp_path / "card.svg"
    code, out = dpi("card", entry["id"], "--claims", "age_over_18", "--svg", str(svg), "--wallet", w)
    assert code == 0 and svg.read_text().startswith("<svg"), out
    code, text = dpi("card", entry["id"], "--claims", "age_over_18", "--wallet", w)
    presentation = qr.decode(text.strip())
    assert [name for _, name, _ in sdjwt.disclosures_of(presentation)] == ["age_over_18"]

    # Refusals: a wrong passphrase, a bad link, an unknown credential.
    code, out = dpi("list", "--wallet", w, passphrase="not the passphrase")
    assert code == 1 and "Wrong passphrase" in flat(out)
    code, out = dpi("receive", "https://example.org/nothing", "--wallet", w)
    assert code == 1 and "credential_offer" in out
    code, out = dpi("show", "c-nothing", "--wallet", w)
    assert code == 1 and "no credential" in flat(out)
    raw = (tmp_path / "wallet" / "wallet.json").read_bytes()
    assert b"Amina" not in raw and entry["credential"].split(".")[0].encode() not in raw
