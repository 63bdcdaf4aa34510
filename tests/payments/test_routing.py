"""Account lookup, parties, quotes (kept and checked against the transfer), payee-initiated
requests, authorizations, transactions and bulk — routed between FSPs over real HTTP."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from dpistack.payments import ilp
from dpistack.payments.check import check
from dpistack.payments.models import PartyLink

from .conftest import send, transfer_body


@pytest.fixture
def banks(scheme):
    return scheme, scheme.fsp("alpha-bank"), scheme.fsp("beta-wallet")


def test_an_alias_is_registered_looked_up_kept_blind_and_deleted_only_by_its_holder(banks, platform):
    scheme, alpha, beta = banks
    r = send(beta, "POST", "/participants/MSISDN/255700111", {"fspId": "beta-wallet", "currency": "USD"})
    assert r.status_code == 202
    [put] = scheme.receiver.wait("beta-wallet", "/participants/MSISDN/255700111", "PUT")
    assert put["body"] == {"fspId": "beta-wallet", "currency": "USD"}
    with platform.db.uow() as s:
        [link] = s.scalars(select(PartyLink)).all()
    assert "255700111" not in (link.key + link.party_id_type)  # only a keyed blind index is kept

    send(alpha, "GET", "/participants/MSISDN/255700111")
    [found] = scheme.receiver.wait("alpha-bank", "/participants/MSISDN/255700111", "PUT")
    assert found["body"] == {"fspId": "beta-wallet"} and found["headers"]["fspiop-source"] == "Hub"
    send(alpha, "POST", "/participants/MSISDN/255700111", {"fspId": "alpha-bank"})  # a takeover
    [taken] = scheme.receiver.wait("alpha-bank", "/participants/MSISDN/255700111/error", "PUT")
    assert taken["body"]["errorInformation"]["errorCode"] == "3003"
    send(alpha, "DELETE", "/participants/MSISDN/255700111")
    [not_yours] = scheme.receiver.wait("alpha-bank", "/participants/MSISDN/255700111/error", "PUT", count=2)[1:]
    assert not_yours["body"]["errorInformation"]["errorCode"] == "3040"
    send(beta, "DELETE", "/participants/MSISDN/255700111")
    deleted = scheme.receiver.wait("beta-wallet", "/participants/MSISDN/255700111", "PUT", count=2)[-1]
    assert deleted["body"] == {}
    send(alpha, "GET", "/participants/MSISDN/255700111")
    gone = scheme.receiver.wait("alpha-bank", "/participants/MSISDN/255700111/error", "PUT", count=3)[-1]
    assert gone["body"]["errorInformation"]["errorCode"] == "3204"


def test_batch_registration_reports_each_party(banks):
    scheme, alpha, beta = banks
    send(beta, "POST", "/participants/ALIAS/shop1", {"fspId": "beta-wallet"})
    scheme.receiver.wait("beta-wallet", "/participants/ALIAS/shop1", "PUT")
    request_id = str(uuid.uuid4())
    send(alpha, "POST", "/participants", {"requestId": request_id, "partyList": [
        {"partyIdType": "MSISDN", "partyIdentifier": "2551"}, {"partyIdType": "ALIAS", "partyIdentifier": "shop1"},
        {"partyIdType": "ACCOUNT_ID", "partyIdentifier": "9", "fspId": "beta-wallet"}]})
    [put] = scheme.receiver.wait("alpha-bank", f"/participants/{request_id}", "PUT")
    results = put["body"]["partyList"]
    assert results[0] == {"partyId": {"partyIdType": "MSISDN", "partyIdentifier": "2551", "fspId": "alpha-bank"}}
    assert results[1]["errorInformation"]["errorCode"] == "3003"
    assert results[2]["errorInformation"]["errorCode"] == "3100"


def test_get_parties_goes_to_the_holder_and_its_answer_back(banks):
    scheme, alpha, beta = banks
    send(beta, "POST", "/participants/MSISDN/255700222", {"fspId": "beta-wallet"})
    scheme.receiver.wait("beta-wallet", "/participants/MSISDN/255700222", "PUT")
    assert send(alpha, "GET", "/parties/MSISDN/255700222").status_code == 202
    [asked] = scheme.receiver.wait("beta-wallet", "/parties/MSISDN/255700222", "GET")
    assert asked["headers"]["fspiop-destination"] == "beta-wallet" and asked["headers"]["fspiop-source"] == "alpha-bank"
    party = {"party": {"partyIdInfo": {"partyIdType": "MSISDN", "partyIdentifier": "255700222", "fspId": "beta-wallet"},
                       "name": "Juma Bakari"}}
    assert send(beta, "PUT", "/parties/MSISDN/255700222", party, destination="alpha-bank").status_code == 200
    [answer] = scheme.receiver.wait("alpha-bank", "/parties/MSISDN/255700222", "PUT")
    assert answer["body"] == party
    send(alpha, "GET", "/parties/MSISDN/999")
    [error] = scheme.receiver.wait("alpha-bank", "/parties/MSISDN/999/error", "PUT")
    assert error["body"]["errorInformation"]["errorCode"] == "3204"


def quote_for(payer, payee, amount="20"):
    body, fulfilment = transfer_body(payer, payee, amount)
    transaction = ilp.decode(body["ilpPacket"]).transaction
    post = {"quoteId": transaction["quoteId"], "transactionId": transaction["transactionId"],
            "payee": transaction["payee"], "payer": transaction["payer"], "amountType": "SEND",
            "amount": {"amount": amount, "currency": "USD"}, "transactionType": transaction["transactionType"]}
    return post, body, fulfilment


def test_a_quote_is_relayed_kept_and_the_transfer_checked_against_it(banks, platform):
    scheme, alpha, beta = banks
    post, transfer, fulfilment = quote_for("alpha-bank", "beta-wallet")
    assert send(alpha, "POST", "/quotes", post, destination="beta-wallet").status_code == 202
    [forwarded] = scheme.receiver.wait("beta-wallet", "/quotes", "POST")
    assert forwarded["body"] == post
    answer = {"transferAmount": {"amount": "20", "currency": "USD"}, "expiration": transfer["expiration"],
              "ilpPacket": transfer["ilpPacket"], "condition": transfer["condition"]}
    assert send(beta, "PUT", f"/quotes/{post['quoteId']}", answer, destination="alpha-bank").status_code == 200
    [relayed] = scheme.receiver.wait("alpha-bank", f"/quotes/{post['quoteId']}", "PUT")
    assert relayed["body"] == answer

    cheaper = {**transfer, "amount": {"amount": "2", "currency": "USD"}}  # not the quoted amount
    send(alpha, "POST", "/transfers", cheaper, destination="beta-wallet")
    [error] = scheme.receiver.wait("alpha-bank", f"/transfers/{cheaper['transferId']}/error", "PUT")
    assert error["body"]["errorInformation"]["errorCode"] == "3100" and "quote" in \
        error["body"]["errorInformation"]["errorDescription"]
    exact = {**transfer, "transferId": str(uuid.uuid4())}
    send(alpha, "POST", "/transfers", exact, destination="beta-wallet")
    scheme.receiver.wait("beta-wallet", "/transfers", "POST")

    changed = {**post, "amount": {"amount": "21", "currency": "USD"}}
    send(alpha, "POST", "/quotes", changed, destination="beta-wallet")
    [modified] = scheme.receiver.wait("alpha-bank", f"/quotes/{post['quoteId']}/error", "PUT")
    assert modified["body"]["errorInformation"]["errorCode"] == "3106"
    assert check(platform) == []


def test_a_transfer_on_an_expired_quote_is_3302(banks):
    scheme, alpha, beta = banks
    post, transfer, _ = quote_for("alpha-bank", "beta-wallet")
    send(alpha, "POST", "/quotes", post, destination="beta-wallet")
    answer = {"transferAmount": {"amount": "20", "currency": "USD"}, "expiration": "2021-01-01T00:00:00.000Z",
              "ilpPacket": transfer["ilpPacket"], "condition": transfer["condition"]}
    send(beta, "PUT", f"/quotes/{post['quoteId']}", answer, destination="alpha-bank")
    scheme.receiver.wait("alpha-bank", f"/quotes/{post['quoteId']}", "PUT")
    send(alpha, "POST", "/transfers", transfer, destination="beta-wallet")
    [error] = scheme.receiver.wait("alpha-bank", f"/transfers/{transfer['transferId']}/error", "PUT")
    assert error["body"]["errorInformation"]["errorCode"] == "3302"


def test_a_quote_to_an_unknown_fsp_is_3201(banks):
    scheme, alpha, _ = banks
    post, _, _ = quote_for("alpha-bank", "beta-wallet")
    send(alpha, "POST", "/quotes", post, destination="nobody-bank")
    [error] = scheme.receiver.wait("alpha-bank", f"/quotes/{post['quoteId']}/error", "PUT")
    assert error["body"]["errorInformation"]["errorCode"] == "3201"


def test_request_to_pay_and_its_authorization_are_routed(banks):
    scheme, alpha, beta = banks
    request_id = str(uuid.uuid4())
    trx = {"transactionRequestId": request_id,
           "payee": {"partyIdInfo": {"partyIdType": "MSISDN", "partyIdentifier": "2557", "fspId": "beta-wallet"}},
           "payer": {"partyIdType": "MSISDN", "partyIdentifier": "2558", "fspId": "alpha-bank"},
           "amount": {"amount": "3.5", "currency": "USD"},
           "transactionType": {"scenario": "PAYMENT", "initiator": "PAYEE", "initiatorType": "BUSINESS"}}
    assert send(beta, "POST", "/transactionRequests", trx, destination="alpha-bank").status_code == 202
    [asked] = scheme.receiver.wait("alpha-bank", "/transactionRequests", "POST")
    assert asked["body"] == trx
    send(alpha, "PUT", f"/transactionRequests/{request_id}", {"transactionRequestState": "RECEIVED"},
         destination="beta-wallet")
    [state] = scheme.receiver.wait("beta-wallet", f"/transactionRequests/{request_id}", "PUT")
    assert state["body"] == {"transactionRequestState": "RECEIVED"}
    query = "?authenticationType=OTP&retriesLeft=2&amount=3.5&currency=USD"
    assert send(alpha, "GET", f"/authorizations/{request_id}{query}", destination="beta-wallet").status_code == 202
    [auth] = scheme.receiver.wait("beta-wallet", f"/authorizations/{request_id}", "GET")
    assert auth["headers"]["fspiop-uri"] == f"/authorizations/{request_id}{query}"
    send(beta, "PUT", f"/authorizations/{request_id}", {"responseType": "ENTERED", "authenticationInfo": {
        "authentication": "OTP", "authenticationValue": "1234"}}, destination="alpha-bank")
    [otp] = scheme.receiver.wait("alpha-bank", f"/authorizations/{request_id}", "PUT")
    assert otp["body"]["responseType"] == "ENTERED"
    send(alpha, "GET", f"/transactions/{request_id}", destination="beta-wallet")
    scheme.receiver.wait("beta-wallet", f"/transactions/{request_id}", "GET")


def bulk_of(payer, payee, amounts):
    transfers, fulfilments = [], {}
    for amount in amounts:
        body, fulfilment = transfer_body(payer, payee, amount)
        transfers.append({"transferId": body["transferId"], "transferAmount": body["amount"],
                          "ilpPacket": body["ilpPacket"], "condition": body["condition"]})
        fulfilments[body["transferId"]] = fulfilment
    return {"bulkTransferId": str(uuid.uuid4()), "bulkQuoteId": str(uuid.uuid4()), "payerFsp": payer,
            "payeeFsp": payee, "individualTransfers": transfers, "expiration": body["expiration"]}, fulfilments


def test_a_bulk_is_reserved_whole_and_committed_per_transfer(banks, platform):
    scheme, alpha, beta = banks
    body, fulfilments = bulk_of("alpha-bank", "beta-wallet", ["10", "20", "30"])
    assert send(alpha, "POST", "/bulkTransfers", body, destination="beta-wallet").status_code == 202
    scheme.receiver.wait("beta-wallet", "/bulkTransfers", "POST")
    assert scheme.position("alpha-bank")["reservedValue"] == 60
    ids = list(fulfilments)
    results = [{"transferId": ids[0], "fulfilment": fulfilments[ids[0]]},
               {"transferId": ids[1], "errorInformation": {"errorCode": "5104", "errorDescription": "no"}},
               {"transferId": ids[2], "fulfilment": fulfilments[ids[2]]}]
    r = send(beta, "PUT", f"/bulkTransfers/{body['bulkTransferId']}",
             {"bulkTransferState": "COMPLETED", "individualTransferResults": results}, destination="alpha-bank")
    assert r.status_code == 200
    [put] = scheme.receiver.wait("alpha-bank", f"/bulkTransfers/{body['bulkTransferId']}", "PUT")
    assert put["body"]["bulkTransferState"] == "COMPLETED"
    by_id = {x["transferId"]: x for x in put["body"]["individualTransferResults"]}
    assert by_id[ids[0]]["fulfilment"] == fulfilments[ids[0]] and by_id[ids[1]]["errorInformation"]["errorCode"] == "5104"
    assert scheme.position("alpha-bank")["value"] == 40 and scheme.position("alpha-bank")["reservedValue"] == 0
    assert check(platform) == []


def test_a_bulk_beyond_the_payers_liquidity_reserves_nothing(banks):
    scheme, alpha, _ = banks
    body, _ = bulk_of("alpha-bank", "beta-wallet", ["600", "600"])
    send(alpha, "POST", "/bulkTransfers", body, destination="beta-wallet")
    [error] = scheme.receiver.wait("alpha-bank", f"/bulkTransfers/{body['bulkTransferId']}/error", "PUT")
    assert error["body"]["errorInformation"]["errorCode"] == "4001"
    assert scheme.position("alpha-bank")["reservedValue"] == 0
    assert not scheme.receiver.messages("beta-wallet", "/bulkTransfers")


def test_a_national_id_becomes_an_alias_only_for_the_person_identity_confirms(banks, actors, platform):
    from ..identity.test_enrolment import AMINA

    scheme, alpha, beta = banks
    office = actors.onboard("civil-registry", "registry", ["registration"], ["identity-authority"])
    uin = office.post("/identity/v1/enrolments", json=AMINA).json()["uin"]
    path = f"/participants/PERSONAL_ID/{uin}/NATIONAL_ID_CARD"
    kyc = [{"key": "firstName", "value": "Amina"}, {"key": "lastName", "value": "Hassan"},
           {"key": "dateOfBirth", "value": "1990-04-12"}]

    send(beta, "POST", path, {"fspId": "beta-wallet", "extensionList": {"extension": kyc}})
    [off] = scheme.receiver.wait("beta-wallet", path + "/error", "PUT")
    assert off["body"]["errorInformation"]["errorCode"] == "3003"  # the switch has no identity account yet

    actors.onboard("payments-switch", "agency", ["relying-party"], ["identity-authority"])
    platform.settings.payments_identity_client = "payments-switch"
    wrong = [{**e, "value": "Zawadi"} if e["key"] == "firstName" else e for e in kyc]
    send(beta, "POST", path, {"fspId": "beta-wallet", "extensionList": {"extension": wrong}})
    refused = scheme.receiver.wait("beta-wallet", path + "/error", "PUT", count=2)[-1]
    assert "does not confirm" in refused["body"]["errorInformation"]["errorDescription"]

    send(beta, "POST", path, {"fspId": "beta-wallet", "extensionList": {"extension": kyc}})
    [ok] = scheme.receiver.wait("beta-wallet", path, "PUT")
    assert ok["body"] == {"fspId": "beta-wallet"}
    send(alpha, "GET", path)
    [found] = scheme.receiver.wait("alpha-bank", path, "PUT")
    assert found["body"] == {"fspId": "beta-wallet"}
    # identity's own record shows who checked the ID, as for any relying party
    with platform.db.uow() as s:
        from dpistack.identity.models import AuthEvent

        partners = {e.partner_id for e in s.scalars(select(AuthEvent))}
    assert "payments-switch" in partners
