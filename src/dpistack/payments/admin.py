"""The hub operator's side of the switch (the central-ledger admin subset Mojaloop's onboarding
tools call): participants and their accounts, limits, endpoints and signing keys, funds in and
out, settlement models. Each function runs in the caller's unit of work; every movement of
money is a balanced set of journal legs and a transparency-log entry."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dpistack.core.timeutil import iso, utcnow
from dpistack.governance.models import Participant
from dpistack.payments import callbacks, fspiop, money
from dpistack.payments.fspiop import FspiopError
from dpistack.payments.models import (
    FSP_ACCOUNT_TYPES,
    HUB,
    HUB_ACCOUNT_TYPES,
    Account,
    Endpoint,
    FundsTransfer,
    JournalEntry,
    Limit,
    SettlementModel,
    SigningKey,
    SwitchParticipant,
)
from dpistack.transparency import service as tlog

RESOURCE = "participants"  # the admin API answers errors in FSPIOP's errorInformation format, as central-ledger does


def _error(description: str, code: str = "3100", status: int | None = None) -> FspiopError:
    return FspiopError(code, description, status=status, resource=RESOURCE)


def request_hash(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:43]


# -- participants -----------------------------------------------------------------------------
def _participant(session: Session, name: str) -> SwitchParticipant:
    row = session.get(SwitchParticipant, name)
    if row is None:
        raise _error(f"Participant {name} is not on the switch", "3200", 404)
    return row


def _ensure_hub(session: Session) -> SwitchParticipant:
    hub = session.get(SwitchParticipant, HUB)
    if hub is None:
        hub = SwitchParticipant(name=HUB, is_active=True, created_at=utcnow())
        session.add(hub)
        session.flush()
    return hub


def _currency(currency: str) -> None:
    try:
        money.exponent(currency)
    except money.MoneyError as exc:
        raise _error(str(exc)) from None


def create_participant(session: Session, name: str, currency: str) -> SwitchParticipant:
    """An FSP joins the switch in a currency (its POSITION and SETTLEMENT accounts). It must be
    a participant that governance onboarded with the ``fsp`` role and that is active."""
    _currency(currency)
    onboarded = session.get(Participant, name)
    if onboarded is None or "fsp" not in (onboarded.roles or []) or onboarded.status != "active":
        raise _error(f"{name} is not an active participant onboarded by governance with the fsp role "
                     "(participant.onboard, approved by the payments regulator)")
    if len(name) > 32:
        raise _error("FSP ids are at most 32 characters (FSPIOP FspId)")
    row = session.get(SwitchParticipant, name)
    if row is None:
        row = SwitchParticipant(name=name, is_active=True, created_at=utcnow())
        session.add(row)
        session.flush()
    existing = session.scalars(select(Account.type).where(Account.participant == name, Account.currency == currency))
    if set(existing):
        raise _error(f"Participant {name} already has {currency} accounts")
    now = utcnow()
    for kind in FSP_ACCOUNT_TYPES:
        session.add(Account(participant=name, currency=currency, type=kind, is_active=True, value=0, reserved=0,
                            created_at=now, changed_at=now))
    session.flush()
    return row


def accounts_of(session: Session, name: str) -> list[Account]:
    return list(session.scalars(select(Account).where(Account.participant == name).order_by(Account.id)))


def participant_view(session: Session, row: SwitchParticipant, base_url: str) -> dict[str, Any]:
    link = f"{base_url.rstrip('/')}/payments/admin/participants/{row.name}"
    return {"name": row.name, "id": link, "created": iso(row.created_at), "isActive": 1 if row.is_active else 0,
            "links": {"self": link}, "accounts": [
                {"id": a.id, "ledgerAccountType": a.type, "currency": a.currency, "isActive": 1 if a.is_active else 0,
                 "createdDate": iso(a.created_at), "createdBy": "unknown"} for a in accounts_of(session, row.name)]}


def list_participants(session: Session) -> list[SwitchParticipant]:
    return list(session.scalars(select(SwitchParticipant).order_by(SwitchParticipant.name)))


def get_participant(session: Session, name: str) -> SwitchParticipant:
    return _participant(session, name)


def set_participant_active(session: Session, name: str, active: bool) -> SwitchParticipant:
    row = _participant(session, name)
    row.is_active = active
    session.flush()
    return row


def create_hub_account(session: Session, name: str, currency: str, kind: str) -> Account:
    if name != HUB:
        raise _error(f"Only the hub ({HUB}) has accounts created this way; FSPs get theirs with their currency")
    if kind not in HUB_ACCOUNT_TYPES:
        raise _error(f"Hub account types are {', '.join(HUB_ACCOUNT_TYPES)}")
    _currency(currency)
    _ensure_hub(session)
    if session.scalar(select(Account.id).where(Account.participant == HUB, Account.currency == currency,
                                               Account.type == kind)) is not None:
        raise _error(f"The hub already has a {currency} {kind} account")
    now = utcnow()
    account = Account(participant=HUB, currency=currency, type=kind, is_active=True, value=0, reserved=0,
                      created_at=now, changed_at=now)
    session.add(account)
    session.flush()
    return account


def set_account_active(session: Session, name: str, account_id: int, active: bool) -> Account:
    account = session.get(Account, account_id)
    if account is None or account.participant != name:
        raise _error(f"Participant {name} has no account {account_id}", "3200", 404)
    account.is_active = active
    account.changed_at = utcnow()
    session.flush()
    return account


def _account(session: Session, name: str, currency: str, kind: str, *, lock: bool = False) -> Account:
    query = select(Account).where(Account.participant == name, Account.currency == currency, Account.type == kind)
    if lock:
        query = query.with_for_update()
    account = session.scalars(query).first()
    if account is None:
        raise _error(f"{name} has no {currency} {kind} account")
    return account


def accounts_view(session: Session, name: str) -> list[dict[str, Any]]:
    _participant(session, name)
    return [{"id": a.id, "ledgerAccountType": a.type, "currency": a.currency, "isActive": 1 if a.is_active else 0,
             "value": money.minor_to_number(a.value, a.currency),
             "reservedValue": money.minor_to_number(a.reserved, a.currency), "changedDate": iso(a.changed_at)}
            for a in accounts_of(session, name)]


def positions_view(session: Session, name: str, currency: str | None = None) -> list[dict[str, Any]]:
    _participant(session, name)
    return [{"currency": a.currency, "value": money.minor_to_number(a.value + a.reserved, a.currency),
             "changedDate": iso(a.changed_at)}
            for a in accounts_of(session, name) if a.type == "POSITION" and currency in (None, a.currency)]


# -- limits ---------------------------------------------------------------------------------------
def initial_position_and_limits(session: Session, name: str, currency: str, limit: dict, initial: Any) -> None:
    _participant(session, name)
    _currency(currency)
    if limit.get("type") != "NET_DEBIT_CAP":
        raise _error("The only limit type is NET_DEBIT_CAP")
    position = _account(session, name, currency, "POSITION", lock=True)
    if session.get(Limit, (position.id, "NET_DEBIT_CAP")) is not None:
        raise _error("Participant Limit or Initial Position already set")
    value = _amount(limit.get("value"), currency)
    start = _amount(initial if initial is not None else 0, currency, negative=True)
    if start:
        raise _error("An initial position other than 0 would create money outside the journal; fund the "
                     "settlement account with recordFundsIn instead")
    session.add(Limit(account_id=position.id, type="NET_DEBIT_CAP", value=value, alarm_percentage=10,
                      changed_at=utcnow()))
    session.flush()


def _amount(value: Any, currency: str, negative: bool = False) -> int:
    try:
        return money.number_to_minor(value, currency, allow_negative=negative)
    except money.MoneyError as exc:
        raise _error(str(exc)) from None


def set_limit(session: Session, name: str, currency: str, limit: dict) -> dict[str, Any]:
    _participant(session, name)
    _currency(currency)
    if limit.get("type") != "NET_DEBIT_CAP":
        raise _error("The only limit type is NET_DEBIT_CAP")
    position = _account(session, name, currency, "POSITION", lock=True)
    row = session.get(Limit, (position.id, "NET_DEBIT_CAP"))
    value = _amount(limit.get("value"), currency)
    alarm = limit.get("alarmPercentage", 10)
    if not isinstance(alarm, (int, float)) or isinstance(alarm, bool) or not 0 <= alarm <= 100:
        raise _error("alarmPercentage must be a number from 0 to 100")
    if row is None:
        row = Limit(account_id=position.id, type="NET_DEBIT_CAP")
        session.add(row)
    row.value, row.alarm_percentage, row.changed_at = value, int(alarm), utcnow()
    session.flush()
    return limit_view(currency, row)


def limit_view(currency: str, row: Limit) -> dict[str, Any]:
    return {"currency": currency, "limit": {"type": row.type, "value": money.minor_to_number(row.value, currency),
                                            "alarmPercentage": row.alarm_percentage}}


def limits(session: Session, name: str | None = None, currency: str | None = None) -> list[dict[str, Any]]:
    query = select(Account.participant, Account.currency, Limit).join(Limit, Limit.account_id == Account.id)
    if name:
        query = query.where(Account.participant == name)
    if currency:
        query = query.where(Account.currency == currency)
    return [{"name": p, **limit_view(c, limit)} for p, c, limit in session.execute(query.order_by(Account.id))]


# -- endpoints and signing keys -----------------------------------------------------------------
def set_endpoint(session: Session, name: str, kind: str, value: str) -> None:
    _participant(session, name)
    if kind not in callbacks.ENDPOINT_TYPES:
        raise _error(f"Unknown endpoint type {kind}")
    if kind.startswith("FSPIOP_") and not value.startswith(("http://", "https://")):
        raise _error("A callback endpoint must be an http(s) URL")
    row = session.get(Endpoint, (name, kind))
    if row is None:
        session.add(Endpoint(participant=name, type=kind, value=value))
    else:
        row.value = value
    session.flush()


def endpoints(session: Session, name: str) -> list[dict[str, str]]:
    _participant(session, name)
    return [{"type": e.type, "value": e.value}
            for e in session.scalars(select(Endpoint).where(Endpoint.participant == name).order_by(Endpoint.type))]


def add_signing_key(session: Session, name: str, jwk: dict) -> dict:
    _participant(session, name)
    try:
        clean = fspiop.check_signing_jwk(jwk)
    except ValueError as exc:
        raise _error(str(exc)) from None
    if session.get(SigningKey, clean["kid"]) is None:
        session.add(SigningKey(kid=clean["kid"], participant=name, jwk=clean, created_at=utcnow()))
        session.flush()
    return clean


def signing_keys(session: Session, name: str) -> list[dict]:
    return [k.jwk for k in session.scalars(select(SigningKey).where(SigningKey.participant == name))]


# -- funds in and out -----------------------------------------------------------------------------
def post_journal(session: Session, reference: str, kind: str, legs: list[tuple[Account, int]], now: datetime) -> None:
    """Balanced legs (they sum to zero), applied to the accounts and logged for auditors."""
    assert sum(amount for _, amount in legs) == 0, "journal legs must balance"
    for account, amount in legs:
        session.add(JournalEntry(reference=reference, kind=kind, account_id=account.id, amount=amount, created_at=now))
        account.value += amount
        account.changed_at = now
    session.flush()
    tlog.append(session, {"type": "payments.journal", "time": iso(now), "reference": reference, "kind": kind,
                          "legs": [[a.participant, a.type, a.currency, money.to_amount(amount, a.currency)]
                                   for a, amount in legs]})


def record_funds(session: Session, name: str, account_id: int, body: dict) -> FundsTransfer:
    """``recordFundsIn`` (committed at once) or ``recordFundsOutPrepareReserve`` (held until
    committed or aborted). Idempotent by transferId: the same body again changes nothing."""
    _participant(session, name)
    settlement = session.scalars(select(Account).where(Account.id == account_id).with_for_update()).first()
    if settlement is None or settlement.participant != name:
        raise _error(f"Participant {name} has no account {account_id}", "3200", 404)
    if settlement.type != "SETTLEMENT":
        raise _error("Funds move in and out of SETTLEMENT accounts only")
    currency = body["amount"]["currency"]
    if currency != settlement.currency:
        raise _error(f"Account {account_id} is in {settlement.currency}, not {currency}")
    try:
        amount = money.to_minor(body["amount"]["amount"], currency)
    except money.MoneyError as exc:
        raise _error(str(exc)) from None
    if amount <= 0:
        raise _error("The amount must be greater than zero")
    digest = request_hash(body)
    existing = session.get(FundsTransfer, body["transferId"])
    if existing is not None:
        if existing.request_hash != digest:
            raise _error("Modified request: this transferId was used for other funds", "3106")
        return existing
    reconciliation = _account(session, HUB, currency, "HUB_RECONCILIATION", lock=True)
    now = utcnow()
    if body["action"] == "recordFundsIn":
        row = FundsTransfer(id=body["transferId"], participant=name, account_id=account_id, currency=currency,
                            amount=amount, direction="in", state="COMMITTED", external_reference=body["externalReference"],
                            reason=body["reason"], request_hash=digest, created_at=now, changed_at=now)
        session.add(row)
        post_journal(session, f"funds:{row.id}", "FUNDS_IN", [(settlement, -amount), (reconciliation, amount)], now)
        return row
    position = _account(session, name, currency, "POSITION", lock=True)
    free = -settlement.value - settlement.reserved - max(0, position.value + position.reserved)
    if amount > free:
        raise _error(f"Insufficient funds: {money.to_amount(max(free, 0), currency)} {currency} can be paid out "
                     "(the rest covers the current position)", "4001")
    settlement.reserved += amount
    settlement.changed_at = now
    row = FundsTransfer(id=body["transferId"], participant=name, account_id=account_id, currency=currency,
                        amount=amount, direction="out", state="RESERVED", external_reference=body["externalReference"],
                        reason=body["reason"], request_hash=digest, created_at=now, changed_at=now)
    session.add(row)
    session.flush()
    return row


def finish_funds_out(session: Session, name: str, account_id: int, transfer_id: str, action: str) -> FundsTransfer:
    """``recordFundsOutCommit`` pays the reserved funds out; ``recordFundsOutAbort`` releases them."""
    row = session.scalars(select(FundsTransfer).where(FundsTransfer.id == transfer_id).with_for_update()).first()
    if row is None or row.participant != name or row.account_id != account_id or row.direction != "out":
        raise _error(f"No funds-out transfer {transfer_id} on account {account_id} of {name}", "3208", 404)
    wanted = "COMMITTED" if action == "recordFundsOutCommit" else "ABORTED"
    if row.state != "RESERVED":
        if row.state == wanted:
            return row  # a retry of what was done
        raise _error(f"Funds-out transfer {transfer_id} is already {row.state}")
    settlement = session.scalars(select(Account).where(Account.id == account_id).with_for_update()).one()
    now = utcnow()
    settlement.reserved -= row.amount
    settlement.changed_at = now
    row.state, row.changed_at = wanted, now
    if wanted == "COMMITTED":
        reconciliation = _account(session, HUB, row.currency, "HUB_RECONCILIATION", lock=True)
        post_journal(session, f"funds:{row.id}", "FUNDS_OUT", [(settlement, row.amount), (reconciliation, -row.amount)],
                 now)
    session.flush()
    return row


# -- settlement models ----------------------------------------------------------------------------
def create_settlement_model(session: Session, body: dict) -> SettlementModel:
    if session.get(SettlementModel, body["name"]) is not None:
        raise _error(f"Settlement model {body['name']} already exists")
    if body.get("currency"):
        _currency(body["currency"])
    row = SettlementModel(name=body["name"], granularity=body["settlementGranularity"],
                          interchange=body["settlementInterchange"], delay=body["settlementDelay"],
                          currency=body.get("currency"), require_liquidity_check=body["requireLiquidityCheck"],
                          ledger_account_type=body["ledgerAccountType"],
                          settlement_account_type=body["settlementAccountType"],
                          auto_position_reset=body["autoPositionReset"], is_active=True)
    session.add(row)
    session.flush()
    return row


def settlement_model_view(row: SettlementModel) -> dict[str, Any]:
    return {"name": row.name, "settlementGranularity": row.granularity, "settlementInterchange": row.interchange,
            "settlementDelay": row.delay, "currency": row.currency, "requireLiquidityCheck": row.require_liquidity_check,
            "ledgerAccountType": row.ledger_account_type, "settlementAccountType": row.settlement_account_type,
            "autoPositionReset": row.auto_position_reset, "isActive": row.is_active}


def settlement_models(session: Session) -> list[SettlementModel]:
    return list(session.scalars(select(SettlementModel).order_by(SettlementModel.name)))


def get_settlement_model(session: Session, name: str) -> SettlementModel:
    row = session.get(SettlementModel, name)
    if row is None:
        raise _error(f"No settlement model {name}", "3200", 404)
    return row


def set_settlement_model_active(session: Session, name: str, active: bool) -> SettlementModel:
    row = get_settlement_model(session, name)
    row.is_active = active
    session.flush()
    return row
