"""The switch's ledger: reservations, commits and aborts of transfers in integer minor units.

Every function takes a *batch* of commands and runs inside the caller's transaction (a group
commit's, for the API; one per call, for the benchmark), so a burst of transfers costs one
look-up of the accounts it touches, one update per account and one statement per kind of row.

Concurrency: the accounts a batch touches are locked for the batch (``SELECT … ORDER BY id
FOR UPDATE`` on PostgreSQL, in id order so that batches on several hosts never deadlock; on
SQLite the whole transaction holds the write lock). Positions are read and written under that
lock only, so two processes can never both spend the same headroom: no position past its cap,
no lost update. A transfer row is locked (``FOR UPDATE``) while it is committed or aborted, so
it ends in exactly one final state.

Money: a committed transfer adds ``amount`` to the payer's POSITION and takes it from the
payee's (both legs in the transfer row); a reservation holds ``amount`` in the payer's
POSITION ``reserved`` until the transfer commits or aborts. The payer may reserve only what
both its net debit cap and its liquidity (the funds in its SETTLEMENT account, less funds
out in flight) leave free. Other movements (funds in and out, settlement) are journal legs
that sum to zero per reference.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.orm import Session

from dpistack.core.db import DriverQuery
from dpistack.core.timeutil import as_utc, iso
from dpistack.payments import money
from dpistack.payments.models import Account, Limit, SettlementWindow, SwitchParticipant, Transfer
from dpistack.transparency import service as tlog

T = Transfer.__table__
A = Account.__table__
L = Limit.__table__
W = SettlementWindow.__table__
P = SwitchParticipant.__table__

# FSPIOP error codes the ledger decides (the rest are the API layer's).
GENERIC_VALIDATION = "3100"
MODIFIED_REQUEST = "3106"
TRANSFER_NOT_FOUND = "3208"
TRANSFER_EXPIRED = "3303"
PAYER_LIQUIDITY = "4001"
PAYER_LIMIT = "4200"


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def fulfils(fulfilment: str, condition: str) -> bool:
    """``base64url(SHA-256(base64url-decode(fulfilment))) == condition`` (a 32-byte preimage)."""
    try:
        preimage = base64.urlsafe_b64decode(fulfilment + "=" * (-len(fulfilment) % 4))
    except (ValueError, TypeError):
        return False
    return len(preimage) == 32 and hmac.compare_digest(b64url(hashlib.sha256(preimage).digest()), condition)


@dataclass(slots=True)
class Prepare:
    transfer_id: str
    payer: str
    payee: str
    currency: str
    amount: int
    condition: str
    expiration: datetime
    request_hash: str
    quote_id: str | None = None
    bulk_id: str | None = None
    refusal: tuple[str, str] | None = None  # decided by the caller before the ledger's checks: recorded aborted
    late_refusal: tuple[str, str] | None = None  # … after them, before any reservation (no endpoint, quote)


@dataclass(slots=True)
class Fulfil:
    transfer_id: str
    sender: str  # FSPIOP-Source (authenticated)
    destination: str | None  # FSPIOP-Destination
    state: str  # COMMITTED | RESERVED | ABORTED
    fulfilment: str | None
    fulfil_hash: str


@dataclass(slots=True)
class Reject:
    """The payee's PUT /transfers/{ID}/error: the transfer is aborted with its error."""

    transfer_id: str
    sender: str
    code: str
    description: str


@dataclass(slots=True)
class Outcome:
    """What happened to one command, for the API layer to answer and notify.

    ``kind``: ``reserved`` | ``committed`` | ``aborted`` (this command changed the transfer),
    ``resend`` (a duplicate of a finished command: tell the sender the state again),
    ``ignore`` (a duplicate of a command still in progress), ``refused`` (nothing changed;
    ``error`` goes to the sender only)."""

    transfer_id: str
    kind: str
    error: tuple[str, str] | None = None
    transfer: dict[str, Any] | None = None  # the transfer as it now is (state, parties, fulfilment…)
    notify_payee: bool = False  # the payee must hear of this too (error callback or PATCH)


# -- reading ------------------------------------------------------------------------------------
def _transfer_view(row: Any) -> dict[str, Any]:
    return {"id": row.id, "payer": row.payer, "payee": row.payee, "currency": row.currency, "amount": row.amount,
            "state": row.state, "fulfilment": row.fulfilment, "reason": row.reason,
            "completed_at": as_utc(row.completed_at) if row.completed_at else None,
            "expiration": as_utc(row.expiration), "payee_reserved": bool(row.payee_reserved),
            "request_hash": row.request_hash, "fulfil_hash": row.fulfil_hash, "condition": row.condition,
            "window_id": row.window_id, "bulk_id": row.bulk_id}


def get_transfer(connection: Connection | Session, transfer_id: str) -> dict[str, Any] | None:
    row = connection.execute(select(T).where(T.c.id == transfer_id)).first()
    return _transfer_view(row) if row is not None else None


def _locked(query: Any, connection: Connection) -> Any:
    return query.with_for_update() if connection.dialect.name == "postgresql" else query


@dataclass
class _Books:
    """The accounts, limits and participants a batch touches, as read under the batch's locks."""

    active: dict[str, bool]
    accounts: dict[tuple[str, str, str], dict[str, Any]]  # (participant, currency, type) -> row as dict
    limits: dict[int, int]  # position account id -> net debit cap
    touched: set[int] = field(default_factory=set)

    def account(self, participant: str, currency: str, kind: str) -> dict[str, Any] | None:
        row = self.accounts.get((participant, currency, kind))
        return row if row is not None and row["is_active"] else None


def _books(connection: Connection, participants: Iterable[str], currencies: Iterable[str]) -> _Books:
    names, currencies = sorted(set(participants)), sorted(set(currencies))
    active = dict(connection.execute(select(P.c.name, P.c.is_active).where(P.c.name.in_(names))).all())
    rows = connection.execute(_locked(
        select(A.c.id, A.c.participant, A.c.currency, A.c.type, A.c.is_active, A.c.value, A.c.reserved)
        .where(A.c.participant.in_(names), A.c.currency.in_(currencies), A.c.type.in_(("POSITION", "SETTLEMENT")))
        .order_by(A.c.id), connection)).all()
    accounts = {(r.participant, r.currency, r.type): dict(r._mapping) for r in rows}
    positions = [r.id for r in rows if r.type == "POSITION"]
    limits = dict(connection.execute(select(L.c.account_id, L.c.value).where(
        L.c.account_id.in_(positions), L.c.type == "NET_DEBIT_CAP")).all()) if positions else {}
    return _Books(active, accounts, limits)


_UPDATE_ACCOUNT = DriverQuery(update(A).where(A.c.id == bindparam("b_id")).values(
    value=bindparam("value"), reserved=bindparam("reserved"), changed_at=bindparam("changed_at")))


def _write_accounts(connection: Connection, books: _Books, now: datetime) -> None:
    rows = [{"b_id": a["id"], "value": a["value"], "reserved": a["reserved"], "changed_at": now}
            for a in books.accounts.values() if a["id"] in books.touched]
    if rows:
        _UPDATE_ACCOUNT.many(connection, rows)


def open_window(connection: Connection, now: datetime) -> int:
    """The id of the OPEN settlement window (made on first use). On PostgreSQL the row is
    share-locked, so a window cannot close under a batch that is committing into it."""
    query = select(W.c.id).where(W.c.state == "OPEN")
    if connection.dialect.name == "postgresql":
        query = query.with_for_update(read=True)
    window = connection.execute(query).scalar()
    if window is None:
        window = connection.execute(insert(W).values(state="OPEN", reason="first window", created_at=now,
                                                     changed_at=now).returning(W.c.id)).scalar_one()
    return window


def headroom(books: _Books, payer: str, currency: str) -> tuple[int, int]:
    """(what the net debit cap leaves free, what liquidity leaves free) for a payer's position."""
    position = books.account(payer, currency, "POSITION")
    settlement = books.account(payer, currency, "SETTLEMENT")
    used = position["value"] + position["reserved"]
    cap = books.limits.get(position["id"], 0)
    liquidity = -settlement["value"] - settlement["reserved"] if settlement else 0
    return cap - used, liquidity - used


# -- prepare ------------------------------------------------------------------------------------
_INSERT_TRANSFER = DriverQuery(insert(T).values({c: bindparam(c) for c in (
    "id", "payer", "payee", "currency", "amount", "condition", "expiration", "state", "reason", "request_hash",
    "payee_reserved", "quote_id", "bulk_id", "created_at", "completed_at")}))


def _refusal(books: _Books, p: Prepare, now: datetime) -> tuple[str, str] | None:
    """Why a prepare cannot reserve (Mojaloop's order and codes), or None."""
    if p.refusal is not None:
        return p.refusal
    for name, role in ((p.payer, "Payer"), (p.payee, "Payee")):
        if not books.active.get(name):
            return GENERIC_VALIDATION, f"{role} FSP {name} is not an active participant of the switch"
    if p.payer == p.payee:
        return GENERIC_VALIDATION, "Payer FSP and payee FSP must differ (no on-us transfers)"
    for name, role in ((p.payer, "Payer"), (p.payee, "Payee")):
        if books.account(name, p.currency, "POSITION") is None:
            return GENERIC_VALIDATION, f"{role} FSP {name} has no active {p.currency} position account"
    if p.expiration <= now:
        return GENERIC_VALIDATION, f"Expiration date {iso(p.expiration)} is already in the past"
    if p.amount <= 0:
        return GENERIC_VALIDATION, "The amount must be greater than zero"
    if p.late_refusal is not None:
        return p.late_refusal
    cap_left, liquidity_left = headroom(books, p.payer, p.currency)
    if p.amount > liquidity_left:
        return PAYER_LIQUIDITY, "Payer FSP insufficient liquidity"
    if p.amount > cap_left:
        return PAYER_LIMIT, "Payer limit error: the transfer would exceed the net debit cap"
    return None


def _duplicate(existing: dict[str, Any], request_hash: str) -> Outcome:
    if existing["request_hash"] != request_hash:
        return Outcome(existing["id"], "refused", (MODIFIED_REQUEST, "Modified request: transfer ID already used"))
    return Outcome(existing["id"], "ignore" if existing["state"] == "RESERVED" else "resend", transfer=existing)


def prepare(session: Session, items: list[Prepare], now: datetime) -> list[Outcome]:
    """Reserve each transfer's amount in its payer's position, or record why not."""
    connection = session.connection()
    found = {r.id: _transfer_view(r) for r in connection.execute(
        select(T).where(T.c.id.in_([p.transfer_id for p in items])))}
    books = _books(connection, [n for p in items for n in (p.payer, p.payee)], [p.currency for p in items])
    outcomes, rows = [], []
    for p in items:
        existing = found.get(p.transfer_id)
        if existing is not None:
            outcomes.append(_duplicate(existing, p.request_hash))
            continue
        refusal = _refusal(books, p, now)
        state = "ABORTED" if refusal else "RESERVED"
        row = {"id": p.transfer_id, "payer": p.payer, "payee": p.payee, "currency": p.currency, "amount": p.amount,
               "condition": p.condition, "expiration": p.expiration, "state": state,
               "reason": f"{refusal[0]} {refusal[1]}"[:200] if refusal else None, "request_hash": p.request_hash,
               "payee_reserved": False, "quote_id": p.quote_id, "bulk_id": p.bulk_id, "created_at": now,
               "completed_at": now if refusal else None}
        rows.append(row)
        found[p.transfer_id] = view = {**row, "fulfilment": None, "fulfil_hash": None, "window_id": None}
        if refusal:
            outcomes.append(Outcome(p.transfer_id, "aborted", refusal, view))
            continue
        position = books.account(p.payer, p.currency, "POSITION")
        position["reserved"] += p.amount
        books.touched.add(position["id"])
        outcomes.append(Outcome(p.transfer_id, "reserved", transfer=view))
    if rows:
        _INSERT_TRANSFER.many(connection, rows)
    _write_accounts(connection, books, now)
    return outcomes


# -- commit, reject, expire ---------------------------------------------------------------------
_FINISH = DriverQuery(update(T).where(T.c.id == bindparam("b_id")).values(
    state=bindparam("state"), reason=bindparam("reason"), fulfilment=bindparam("fulfilment"),
    fulfil_hash=bindparam("fulfil_hash"), payee_reserved=bindparam("payee_reserved"),
    window_id=bindparam("window_id"), completed_at=bindparam("completed_at")))


class _Finishing:
    """The transfers a batch commits or aborts, locked, with the books of their parties."""

    def __init__(self, session: Session, ids: list[str], now: datetime):
        self.connection = connection = session.connection()
        self.session, self.now = session, now
        self.transfers = {r.id: _transfer_view(r) for r in connection.execute(
            _locked(select(T).where(T.c.id.in_(ids)).order_by(T.c.id), connection))}
        live = [t for t in self.transfers.values() if t["state"] == "RESERVED"]
        self.books = _books(connection, [n for t in live for n in (t["payer"], t["payee"])],
                            [t["currency"] for t in live]) if live else None
        self.updates: list[dict[str, Any]] = []
        self.committed: list[dict[str, Any]] = []
        self._window: int | None = None

    def window(self) -> int:
        if self._window is None:
            self._window = open_window(self.connection, self.now)
        return self._window

    def abort(self, t: dict[str, Any], code: str, description: str) -> None:
        position = self.books.accounts[(t["payer"], t["currency"], "POSITION")]
        position["reserved"] -= t["amount"]
        self.books.touched.add(position["id"])
        t.update(state="ABORTED", reason=f"{code} {description}"[:200], completed_at=self.now)
        self.updates.append(self._row(t))

    def commit(self, t: dict[str, Any], fulfilment: str, fulfil_hash: str, payee_reserved: bool) -> None:
        payer = self.books.accounts[(t["payer"], t["currency"], "POSITION")]
        payee = self.books.accounts[(t["payee"], t["currency"], "POSITION")]
        payer["reserved"] -= t["amount"]
        payer["value"] += t["amount"]
        payee["value"] -= t["amount"]
        self.books.touched.update((payer["id"], payee["id"]))
        t.update(state="COMMITTED", fulfilment=fulfilment, fulfil_hash=fulfil_hash, payee_reserved=payee_reserved,
                 window_id=self.window(), completed_at=self.now)
        self.updates.append(self._row(t))
        self.committed.append(t)

    @staticmethod
    def _row(t: dict[str, Any]) -> dict[str, Any]:
        return {"b_id": t["id"], "state": t["state"], "reason": t["reason"], "fulfilment": t["fulfilment"],
                "fulfil_hash": t["fulfil_hash"], "payee_reserved": t["payee_reserved"], "window_id": t["window_id"],
                "completed_at": t["completed_at"]}

    def write(self) -> None:
        if self.updates:
            _FINISH.many(self.connection, self.updates)
        if self.books is not None:
            _write_accounts(self.connection, self.books, self.now)
        if self.committed:
            tlog.append(self.session, committed_entry(self.committed, self.now))


def committed_entry(transfers: list[dict[str, Any]], now: datetime) -> dict[str, Any]:
    """The transparency-log entry of a batch of committed transfers: FSPs, amount, currency,
    window and time, never a party (an auditor recomputes every position from these)."""
    return {"type": "payments.transfers.committed", "time": iso(now), "transfers": [
        [t["id"], t["payer"], t["payee"], t["currency"], money.to_amount(t["amount"], t["currency"]), t["window_id"]]
        for t in transfers]}


def commit(session: Session, items: list[Fulfil], now: datetime) -> list[Outcome]:
    """The payee's answer to a prepare: commit it (COMMITTED, or RESERVED asking to be told),
    abort it (ABORTED), or refuse what does not hold."""
    batch = _Finishing(session, [f.transfer_id for f in items], now)
    outcomes = []
    for f in items:
        t = batch.transfers.get(f.transfer_id)
        if t is None:
            outcomes.append(Outcome(f.transfer_id, "refused", (TRANSFER_NOT_FOUND, "Transfer ID not found")))
            continue
        if f.sender != t["payee"] or (f.destination is not None and f.destination != t["payer"]):
            # Refused without touching the transfer: only its payee may settle its fate.
            outcomes.append(Outcome(f.transfer_id, "refused", (
                GENERIC_VALIDATION, "FSPIOP-Source must be the payee FSP and FSPIOP-Destination the payer FSP")))
            continue
        if t["state"] != "RESERVED":
            if t["fulfil_hash"] == f.fulfil_hash:
                outcomes.append(Outcome(f.transfer_id, "resend", transfer=t))
            elif t["state"] == "ABORTED" and t["reason"] and t["reason"].startswith(TRANSFER_EXPIRED):
                outcomes.append(Outcome(f.transfer_id, "refused", (TRANSFER_EXPIRED, "Transfer expired"), t))
            elif t["fulfil_hash"] is not None:
                outcomes.append(Outcome(f.transfer_id, "refused", (MODIFIED_REQUEST, "Modified request"), t))
            else:
                outcomes.append(Outcome(f.transfer_id, "refused", (
                    GENERIC_VALIDATION, f"The transfer is {t['state']}, not RESERVED"), t))
            continue
        if t["expiration"] <= now:
            batch.abort(t, TRANSFER_EXPIRED, "Transfer expired")
            outcomes.append(Outcome(f.transfer_id, "aborted", (TRANSFER_EXPIRED, "Transfer expired"), t, True))
            continue
        if f.state == "ABORTED":
            batch.abort(t, "5104", "Payee rejected transaction")
            t["fulfil_hash"] = f.fulfil_hash
            outcomes.append(Outcome(f.transfer_id, "aborted", None, t))
            continue
        if not f.fulfilment or not fulfils(f.fulfilment, t["condition"]):
            batch.abort(t, GENERIC_VALIDATION, "Invalid fulfilment")
            outcomes.append(Outcome(f.transfer_id, "aborted", (GENERIC_VALIDATION, "Invalid fulfilment"), t, True))
            continue
        batch.commit(t, f.fulfilment, f.fulfil_hash, payee_reserved=f.state == "RESERVED")
        outcomes.append(Outcome(f.transfer_id, "committed", transfer=t, notify_payee=f.state == "RESERVED"))
    batch.write()
    return outcomes


def reject(session: Session, items: list[Reject], now: datetime) -> list[Outcome]:
    """The payee's error callback: abort a reserved transfer (a finished one stays as it is)."""
    batch = _Finishing(session, [r.transfer_id for r in items], now)
    outcomes = []
    for r in items:
        t = batch.transfers.get(r.transfer_id)
        if t is None:
            outcomes.append(Outcome(r.transfer_id, "refused", (TRANSFER_NOT_FOUND, "Transfer ID not found")))
        elif r.sender != t["payee"]:
            outcomes.append(Outcome(r.transfer_id, "refused", (
                GENERIC_VALIDATION, "Only the payee FSP may reject a transfer")))
        elif t["state"] != "RESERVED":
            outcomes.append(Outcome(r.transfer_id, "ignore", transfer=t))
        else:
            batch.abort(t, r.code, r.description)
            outcomes.append(Outcome(r.transfer_id, "aborted", (r.code, r.description), t))
    batch.write()
    return outcomes


def expire(session: Session, now: datetime, limit: int = 1000) -> list[Outcome]:
    """Abort the reserved transfers whose expiration has passed (taken with SKIP LOCKED, so several
    processes share the work and a transfer being fulfilled right now is left to its fulfil)."""
    connection = session.connection()
    query = select(T.c.id).where(T.c.state == "RESERVED", T.c.expiration <= now).limit(limit)
    if connection.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    ids = list(connection.execute(query).scalars())
    if not ids:
        return []
    batch = _Finishing(session, ids, now)
    outcomes = []
    for t in batch.transfers.values():
        if t["state"] == "RESERVED" and t["expiration"] <= now:
            batch.abort(t, TRANSFER_EXPIRED, "Transfer expired")
            outcomes.append(Outcome(t["id"], "aborted", (TRANSFER_EXPIRED, "Transfer expired"), t, True))
    batch.write()
    return outcomes
