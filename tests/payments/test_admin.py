"""The hub operator API: participants only once governance onboarded them, limits, funds in and
out, settlement windows and multilateral net settlement — and the ledger check."""

from __future__ import annotations

import json
import uuid

from sqlalchemy import select, update

from dpistack.payments.check import check
from dpistack.payments.models import Account, Transfer, WindowPosition
from dpistack.transparency.models import LogEntry

from .conftest import ADMIN, send, transfer_body


def funds(scheme, name, action, amount, transfer_id=None):
    account = scheme.account(name, "SETTLEMENT")
    return scheme.hub.post(f"{ADMIN}/participants/{name}/accounts/{account['id']}", json={
        "transferId": transfer_id or str(uuid.uuid4()), "externalReference": "ref", "action": action,
        "reason": "test", "amount": {"amount": amount, "currency": "USD"}})


def pay(scheme, payer, payee, amount):
    body, fulfilment = transfer_body(payer.id, payee.id, amount)
    assert send(payer, "POST", "/transfers", body, destination=payee.id).status_code == 202
    scheme.receiver.wait(payee.id, "/transfers", "POST", count=1)
    put = {"transferState": "COMMITTED", "fulfilment": fulfilment}
    assert send(payee, "PUT", f"/transfers/{body['transferId']}", put, destination=payer.id).status_code == 200
    scheme.receiver.wait(payer.id, f"/transfers/{body['transferId']}", "PUT")


def test_an_fsp_joins_the_switch_only_once_governance_onboarded_it(scheme, actors):
    refused = scheme.hub.post(f"{ADMIN}/participants", json={"name": "ghost-bank", "currency": "USD"})
    assert refused.status_code == 400 and "governance" in refused.json()["errorInformation"]["errorDescription"]
    actors.onboard("shop-app", "relying-party", ["relying-party"], ["identity-authority"])
    not_fsp = scheme.hub.post(f"{ADMIN}/participants", json={"name": "shop-app", "currency": "USD"})
    assert not_fsp.status_code == 400
    scheme.fsp("alpha-bank")
    again = scheme.hub.post(f"{ADMIN}/participants", json={"name": "alpha-bank", "currency": "USD"})
    assert again.status_code == 400 and "already" in again.json()["errorInformation"]["errorDescription"]
    gold = scheme.hub.post(f"{ADMIN}/participants", json={"name": "alpha-bank", "currency": "XAU"})
    assert gold.status_code == 400  # no minor unit: cannot be held exactly
    view = scheme.hub.get(f"{ADMIN}/participants/alpha-bank").json()
    assert {a["ledgerAccountType"] for a in view["accounts"]} == {"POSITION", "SETTLEMENT"} and view["isActive"] == 1
    limits = scheme.hub.get(f"{ADMIN}/participants/alpha-bank/limits").json()
    assert limits == [{"currency": "USD", "limit": {"type": "NET_DEBIT_CAP", "value": 1000, "alarmPercentage": 10}}]


def test_only_the_payments_regulator_runs_the_hub(scheme):
    alpha = scheme.fsp("alpha-bank")
    r = alpha.get(f"{ADMIN}/participants")
    assert r.status_code == 403 and r.json()["errorInformation"]["errorCode"] == "3000"


def test_funds_out_cannot_uncover_the_position_and_is_idempotent(scheme, platform):
    alpha, beta = scheme.fsp("alpha-bank", funds="100"), scheme.fsp("beta-wallet")
    pay(scheme, alpha, beta, "60")
    too_much = funds(scheme, "alpha-bank", "recordFundsOutPrepareReserve", "50")
    assert too_much.status_code == 400 and too_much.json()["errorInformation"]["errorCode"] == "4001"
    out_id = str(uuid.uuid4())
    assert funds(scheme, "alpha-bank", "recordFundsOutPrepareReserve", "40", out_id).status_code == 202
    assert funds(scheme, "alpha-bank", "recordFundsOutPrepareReserve", "40", out_id).status_code == 202  # a retry
    changed = funds(scheme, "alpha-bank", "recordFundsOutPrepareReserve", "30", out_id)
    assert changed.json()["errorInformation"]["errorCode"] == "3106"
    assert scheme.account("alpha-bank", "SETTLEMENT")["reservedValue"] == 40
    # what is reserved for paying out is no longer liquidity for transfers
    body, _ = transfer_body("alpha-bank", "beta-wallet", "1")
    send(alpha, "POST", "/transfers", body, destination="beta-wallet")
    [error] = scheme.receiver.wait("alpha-bank", f"/transfers/{body['transferId']}/error", "PUT")
    assert error["body"]["errorInformation"]["errorCode"] == "4001"
    settlement = scheme.account("alpha-bank", "SETTLEMENT")
    finish = f"{ADMIN}/participants/alpha-bank/accounts/{settlement['id']}/transfers/{out_id}"
    assert scheme.hub.put(finish, json={"action": "recordFundsOutCommit", "reason": "paid"}).status_code == 202
    assert scheme.hub.put(finish, json={"action": "recordFundsOutCommit", "reason": "paid"}).status_code == 202
    assert scheme.hub.put(finish, json={"action": "recordFundsOutAbort", "reason": "x"}).status_code == 400
    settlement = scheme.account("alpha-bank", "SETTLEMENT")
    assert settlement["value"] == -60 and settlement["reservedValue"] == 0
    assert check(platform) == []


def test_a_window_is_closed_and_settled_multilaterally(scheme, platform):
    alpha, beta, gamma = (scheme.fsp(n) for n in ("alpha-bank", "beta-wallet", "gamma-bank"))
    pay(scheme, alpha, beta, "30")
    pay(scheme, beta, gamma, "10")
    pay(scheme, gamma, alpha, "5")
    model = {"name": "DEFERREDNET", "settlementGranularity": "NET", "settlementInterchange": "MULTILATERAL",
             "settlementDelay": "DEFERRED", "currency": "USD", "requireLiquidityCheck": True,
             "ledgerAccountType": "POSITION", "settlementAccountType": "SETTLEMENT", "autoPositionReset": True}
    assert scheme.hub.post(f"{ADMIN}/settlementModels", json=model).status_code == 201
    [window] = scheme.hub.get(f"{ADMIN}/settlementWindows", params={"state": "OPEN"}).json()
    assert window["content"][0]["transfers"] == 3
    fresh = scheme.hub.post(f"{ADMIN}/settlementWindows/{window['id']}", json={"state": "CLOSED", "reason": "eod"})
    assert fresh.status_code == 200 and fresh.json()["state"] == "OPEN" and fresh.json()["id"] != window["id"]
    again = scheme.hub.post(f"{ADMIN}/settlementWindows/{window['id']}", json={"state": "CLOSED", "reason": "x"})
    assert again.status_code == 400

    r = scheme.hub.post(f"{ADMIN}/settlements", json={"settlementModel": "DEFERREDNET", "reason": "daily",
                                                      "settlementWindows": [{"id": window["id"]}]})
    assert r.status_code == 200, r.text
    settlement = r.json()
    nets = {p["id"]: p["accounts"][0]["netSettlementAmount"]["amount"] for p in settlement["participants"]}
    assert nets == {"alpha-bank": 25, "beta-wallet": -20, "gamma-bank": -5}
    assert settlement["settlementWindows"][0]["state"] == "PENDING_SETTLEMENT"

    skip = scheme.hub.put(f"{ADMIN}/settlements/{settlement['id']}", json={"participants": [
        {"id": "alpha-bank", "accounts": [{"id": settlement["participants"][0]["accounts"][0]["id"],
                                           "state": "PS_TRANSFERS_COMMITTED"}]}]}).json()
    assert skip["errors"][0]["errorInformation"]["errorDescription"].startswith("State change not allowed")
    for state in ("PS_TRANSFERS_RECORDED", "PS_TRANSFERS_RESERVED", "PS_TRANSFERS_COMMITTED", "SETTLED"):
        body = {"participants": [{"id": p["id"], "accounts": [{"id": a["id"], "state": state, "reason": "ok"}
                                                              for a in p["accounts"]]}
                                 for p in settlement["participants"]]}
        view = scheme.hub.put(f"{ADMIN}/settlements/{settlement['id']}", json=body).json()
        assert "errors" not in view, view
    assert view["state"] == "SETTLED" and view["settlementWindows"][0]["state"] == "SETTLED"
    for name, paid in (("alpha-bank", 25), ("beta-wallet", -20), ("gamma-bank", -5)):
        assert scheme.position(name)["value"] == 0  # positions reset
        assert scheme.account(name, "SETTLEMENT")["value"] == -1000 + paid  # the net moved between the funds
    hub = {a["ledgerAccountType"]: a["value"] for a in scheme.hub.get(f"{ADMIN}/participants/Hub/accounts").json()}
    assert hub["HUB_MULTILATERAL_SETTLEMENT"] == 0 and hub["HUB_RECONCILIATION"] == 3000
    assert check(platform) == []
    with platform.db.uow() as s:
        kinds = [json.loads(e)["type"] for e in s.scalars(select(LogEntry.entry))]
    assert kinds.count("payments.transfers.committed") >= 1 and kinds.count("payments.journal") == 3 + 6


def test_window_totals_follow_each_commit_and_the_check_recomputes_them(scheme, platform):
    alpha, beta = scheme.fsp("alpha-bank"), scheme.fsp("beta-wallet")
    pay(scheme, alpha, beta, "7")
    pay(scheme, alpha, beta, "2.5")
    pay(scheme, beta, alpha, "1")
    with platform.db.uow() as s:
        rows = {(w.participant, w.currency): (w.sent, w.received, w.sent_count)
                for w in s.scalars(select(WindowPosition))}
    assert rows == {("alpha-bank", "USD"): (950, 100, 2), ("beta-wallet", "USD"): (100, 950, 1)}
    assert check(platform) == []
    with platform.db.uow(write=True) as s:
        s.execute(update(WindowPosition).where(WindowPosition.participant == "beta-wallet")
                  .values(received=WindowPosition.received + 1))
    assert any("beta-wallet USD: totals" in p for p in check(platform))


def test_the_check_finds_money_created_lost_or_unlogged(scheme, platform):
    alpha, beta = scheme.fsp("alpha-bank"), scheme.fsp("beta-wallet")
    pay(scheme, alpha, beta, "7")
    assert check(platform) == []
    with platform.db.uow(write=True) as s:
        s.execute(update(Account).where(Account.participant == "beta-wallet", Account.type == "POSITION")
                  .values(value=Account.value - 1))
    problems = check(platform)
    assert any("sum to" in p and "not 0" in p for p in problems)
    assert any("beta-wallet USD POSITION: value" in p for p in problems)
    with platform.db.uow(write=True) as s:
        s.execute(update(Account).where(Account.participant == "beta-wallet", Account.type == "POSITION")
                  .values(value=Account.value + 1))
        s.execute(update(Transfer).values(amount=Transfer.amount + 100))
    problems = check(platform)
    assert any("logged differently" in p for p in problems)
