"""Settlement windows and deferred multilateral net settlement (Mojaloop central-settlement's
model and states).

A committed transfer falls in the OPEN window. Closing a window opens the next one; a
settlement over closed windows nets, per FSP and currency, what it sent minus what it received
(> 0: a net sender, who pays). Each FSP account then moves through PS_TRANSFERS_RECORDED (its
position is settled into the hub's multilateral settlement account), PS_TRANSFERS_RESERVED,
PS_TRANSFERS_COMMITTED (the hub's multilateral account pays into, or is paid from, the FSP's
settlement account) and SETTLED; when every account is SETTLED, so are the settlement and its
windows. Across the FSPs of a settlement the net amounts of a currency sum to zero, so the
hub's multilateral account is back at zero once all are committed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dpistack.core.timeutil import iso, utcnow
from dpistack.payments import money
from dpistack.payments.admin import _error, get_settlement_model, post_journal
from dpistack.payments.models import HUB, Account, Settlement, SettlementAccount, SettlementWindow, WindowPosition

ACCOUNT_STEPS = ["PENDING_SETTLEMENT", "PS_TRANSFERS_RECORDED", "PS_TRANSFERS_RESERVED", "PS_TRANSFERS_COMMITTED",
                 "SETTLED"]


# -- windows -------------------------------------------------------------------------------------
def _window(session: Session, window_id: int, *, lock: bool = False) -> SettlementWindow:
    query = select(SettlementWindow).where(SettlementWindow.id == window_id)
    if lock:
        query = query.with_for_update()
    row = session.scalars(query).first()
    if row is None:
        raise _error(f"No settlement window {window_id}", "3200", 404)
    return row


def window_content(session: Session, window_id: int) -> list[dict[str, Any]]:
    """What a window holds, per currency: transfers and the amount committed in it."""
    W = WindowPosition
    rows = session.execute(select(W.currency, func.sum(W.sent_count), func.sum(W.sent))
                           .where(W.window_id == window_id).group_by(W.currency).order_by(W.currency))
    return [{"ledgerAccountType": "POSITION", "currencyId": c, "transfers": n,
             "amount": money.minor_to_number(int(total or 0), c)} for c, n, total in rows]


def window_view(session: Session, row: SettlementWindow) -> dict[str, Any]:
    return {"settlementWindowId": row.id, "id": row.id, "state": row.state, "reason": row.reason,
            "settlementId": row.settlement_id, "createdDate": iso(row.created_at), "changedDate": iso(row.changed_at),
            "content": [{**c, "state": row.state} for c in window_content(session, row.id)]}


def close_window(session: Session, window_id: int, reason: str) -> SettlementWindow:
    """Close the OPEN window (it must hold transfers) and open the next; returns the new one.
    The row lock waits for batches committing into the window (they share-lock it)."""
    row = _window(session, window_id, lock=True)
    if row.state != "OPEN":
        raise _error(f"Window {window_id} is not open")
    if not window_content(session, window_id):
        raise _error(f"Window {window_id} is empty")
    now = utcnow()
    row.state, row.reason, row.changed_at = "CLOSED", reason, now
    session.flush()
    fresh = SettlementWindow(state="OPEN", reason=None, created_at=now, changed_at=now)
    session.add(fresh)
    session.flush()
    return fresh


def list_windows(session: Session, *, state: str | None = None, participant: str | None = None,
                 from_time: datetime | None = None, to_time: datetime | None = None) -> list[SettlementWindow]:
    query = select(SettlementWindow).order_by(SettlementWindow.id)
    if state:
        query = query.where(SettlementWindow.state == state)
    if from_time:
        query = query.where(SettlementWindow.created_at >= from_time)
    if to_time:
        query = query.where(SettlementWindow.created_at <= to_time)
    if participant:
        ids = select(WindowPosition.window_id).where(WindowPosition.participant == participant)
        query = query.where(SettlementWindow.id.in_(ids))
    return list(session.scalars(query))


# -- settlements ---------------------------------------------------------------------------------
def net_positions(session: Session, window_ids: list[int]) -> dict[tuple[str, str], int]:
    """Per (FSP, currency): committed sent − committed received in the windows."""
    W = WindowPosition
    return {(name, currency): int(net) for name, currency, net in session.execute(
        select(W.participant, W.currency, func.sum(W.sent - W.received))
        .where(W.window_id.in_(window_ids)).group_by(W.participant, W.currency))}


def create_settlement(session: Session, model_name: str, reason: str, window_ids: list[int]) -> Settlement:
    model = get_settlement_model(session, model_name)
    if not model.is_active:
        raise _error(f"Settlement model {model_name} is not active")
    if model.granularity == "GROSS" or model.delay == "IMMEDIATE":
        raise _error("Settlement can not be created for GROSS or IMMEDIATE models")
    if not window_ids:
        raise _error("A settlement needs at least one window")
    windows = [_window(session, w, lock=True) for w in sorted(set(window_ids))]
    unusable = [w.id for w in windows if w.state not in ("CLOSED", "ABORTED")]
    if unusable:
        raise _error(f"Inapplicable windows {unusable}: only CLOSED or ABORTED windows can be settled")
    now = utcnow()
    settlement = Settlement(model=model.name, state="PENDING_SETTLEMENT", reason=reason,
                            windows=[w.id for w in windows], created_at=now, changed_at=now)
    session.add(settlement)
    session.flush()
    for (name, currency), net in sorted(net_positions(session, settlement.windows).items()):
        if model.currency and currency != model.currency:
            continue
        position = session.scalar(select(Account.id).where(Account.participant == name, Account.currency == currency,
                                                           Account.type == "POSITION"))
        session.add(SettlementAccount(settlement_id=settlement.id, participant=name, account_id=position,
                                      currency=currency, net_amount=net, state="PENDING_SETTLEMENT"))
    for w in windows:
        w.state, w.settlement_id, w.changed_at = "PENDING_SETTLEMENT", settlement.id, now
    session.flush()
    return settlement


def get_settlement(session: Session, settlement_id: int, *, lock: bool = False) -> Settlement:
    query = select(Settlement).where(Settlement.id == settlement_id)
    if lock:
        query = query.with_for_update()
    row = session.scalars(query).first()
    if row is None:
        raise _error(f"No settlement {settlement_id}", "3200", 404)
    return row


def _accounts(session: Session, settlement_id: int) -> list[SettlementAccount]:
    return list(session.scalars(select(SettlementAccount).where(SettlementAccount.settlement_id == settlement_id)
                                .order_by(SettlementAccount.id)))


def settlement_view(session: Session, row: Settlement) -> dict[str, Any]:
    by_participant: dict[str, list[dict]] = {}
    for a in _accounts(session, row.id):
        by_participant.setdefault(a.participant, []).append({
            "id": a.account_id, "state": a.state, "reason": a.reason, "externalReference": a.external_reference,
            "netSettlementAmount": {"amount": money.minor_to_number(a.net_amount, a.currency), "currency": a.currency}})
    return {"id": row.id, "settlementModel": row.model, "state": row.state, "reason": row.reason,
            "createdDate": iso(row.created_at), "changedDate": iso(row.changed_at),
            "settlementWindows": [window_view(session, _window(session, w)) for w in row.windows],
            "participants": [{"id": name, "accounts": accounts} for name, accounts in by_participant.items()]}


def list_settlements(session: Session, state: str | None = None) -> list[Settlement]:
    query = select(Settlement).order_by(Settlement.id)
    if state:
        query = query.where(Settlement.state == state)
    return list(session.scalars(query))


def _hub(session: Session, currency: str) -> Account:
    account = session.scalars(select(Account).where(Account.participant == HUB, Account.currency == currency,
                                                    Account.type == "HUB_MULTILATERAL_SETTLEMENT")
                              .with_for_update()).first()
    if account is None:
        raise _error(f"The hub has no {currency} HUB_MULTILATERAL_SETTLEMENT account")
    return account


def _own(session: Session, participant: str, currency: str, kind: str) -> Account:
    return session.scalars(select(Account).where(Account.participant == participant, Account.currency == currency,
                                                 Account.type == kind).with_for_update()).one()


def _step(session: Session, settlement: Settlement, account: SettlementAccount, state: str, now: datetime) -> None:
    """Move one FSP account one step on (its ledger effect included)."""
    net, ref = account.net_amount, f"settlement:{settlement.id}:{account.account_id}"
    if state == "PS_TRANSFERS_RECORDED":
        post_journal(session, ref + ":recorded", "SETTLEMENT_NET_SENDER" if net > 0 else "SETTLEMENT_NET_RECIPIENT",
                     [(_own(session, account.participant, account.currency, "POSITION"), -net),
                      (_hub(session, account.currency), net)], now)
    elif state == "PS_TRANSFERS_COMMITTED":
        post_journal(session, ref + ":committed", "SETTLEMENT_TRANSFER",
                     [(_hub(session, account.currency), -net),
                      (_own(session, account.participant, account.currency, "SETTLEMENT"), net)], now)
    account.state = state


def update_settlement(session: Session, settlement_id: int, participants: list[dict]) -> dict[str, Any]:
    """Move accounts on, each at most one step (central-settlement's rules); a step that is not
    allowed is reported on that account, the others still move."""
    settlement = get_settlement(session, settlement_id, lock=True)
    if settlement.state in ("SETTLED", "ABORTED"):
        raise _error(f"Settlement {settlement_id} is {settlement.state}")
    accounts = {(a.participant, a.account_id): a for a in _accounts(session, settlement_id)}
    now = utcnow()
    problems: list[dict] = []
    for participant in participants:
        for asked in participant.get("accounts", []):
            account = accounts.get((participant.get("id"), asked.get("id")))
            if account is None:
                problems.append({"id": asked.get("id"), "errorInformation": {
                    "errorCode": "3000", "errorDescription": "Participant and account mismatch"}})
                continue
            state = asked.get("state")
            if state == account.state:
                account.reason = asked.get("reason", account.reason)
                continue
            if state not in ACCOUNT_STEPS or ACCOUNT_STEPS.index(state) != ACCOUNT_STEPS.index(account.state) + 1:
                problems.append({"id": account.account_id, "errorInformation": {
                    "errorCode": "3000", "errorDescription": f"State change not allowed: {account.state} -> {state}"}})
                continue
            _step(session, settlement, account, state, now)
            account.reason = asked.get("reason")
            account.external_reference = asked.get("externalReference", account.external_reference)
    states = {a.state for a in accounts.values()}
    if states == {"SETTLED"}:
        settlement.state = "SETTLED"
        for w in settlement.windows:
            window = _window(session, w)
            window.state, window.changed_at = "SETTLED", now
    elif "SETTLED" in states:
        settlement.state = "SETTLING"
    elif len(states) == 1:
        settlement.state = states.pop()
    settlement.changed_at = now
    session.flush()
    view = settlement_view(session, settlement)
    if problems:
        view["errors"] = problems
    return view


def abort_settlement(session: Session, settlement_id: int, reason: str) -> Settlement:
    """Undo what was recorded (allowed until any account is committed); the windows can be
    settled again."""
    settlement = get_settlement(session, settlement_id, lock=True)
    accounts = _accounts(session, settlement_id)
    late = {"PS_TRANSFERS_COMMITTED", "SETTLED"}
    if settlement.state in ("SETTLED", "SETTLING", "ABORTED") or any(a.state in late for a in accounts):
        raise _error(f"Settlement {settlement_id} cannot be aborted: at least one settlement transfer is committed")
    now = utcnow()
    for a in accounts:
        if a.state in ("PS_TRANSFERS_RECORDED", "PS_TRANSFERS_RESERVED"):
            post_journal(session, f"settlement:{settlement.id}:{a.account_id}:aborted", "SETTLEMENT_ABORTED",
                         [(_hub(session, a.currency), -a.net_amount),
                          (_own(session, a.participant, a.currency, "POSITION"), a.net_amount)], now)
        a.state = "ABORTED"
    settlement.state, settlement.reason, settlement.changed_at = "ABORTED", reason, now
    for w in settlement.windows:
        window = _window(session, w)
        window.state, window.settlement_id, window.changed_at = "ABORTED", None, now
    session.flush()
    return settlement
