"""The switch's ledger: reservations, commits and aborts of transfers in integer minor units.

Every function takes a *batch* of commands and runs inside the caller's transaction (a group
commit's, for the API; one per call, for the benchmark), so a burst of transfers costs one
look-up of the accounts it touches, one update per account and one statement per kind of row.

Concurrency: the accounts a batch touches are locked for the batch (``SELECT … ORDER BY id
FOR UPDATE`` on PostgreSQL, in id order so that batches on several hosts never deadlock; on
SQLite the whole transaction holds the write lock). Positions are read and written under that
lock only, so two processes can never both spend the same headroom: no position past its cap,
no lost update. A transfer is committed or aborted by an update that requires it to be
RESERVED still, so it ends in exactly one final state whichever process tries.

The fast way and the careful way: a batch is first tried on the assumption that nothing
unusual happens — new transfer ids at prepare, and at commit transfers still RESERVED whose
facts this process remembers from their prepare — with one INSERT or one UPDATE for the whole
batch inside a savepoint. If the database says otherwise (a duplicate id, a transfer that
another process finished or that this one never saw), the savepoint is rolled back and the
batch is done again reading every row it touches. Both ways give the same answers (tested).

Money: a committed transfer adds ``amount`` to the payer's POSITION and takes it from the
payee's (both legs in the transfer row); a reservation holds ``amount`` in the payer's
POSITION ``reserved`` until the transfer commits or aborts. The payer may reserve only what
both its net debit cap and its liquidity (the funds in its SETTLEMENT account, less funds
out in flight) leave free. Other movements (funds in and out, settlement) are journal legs
that sum to zero per reference. Times in the transfers table are integer microseconds since
the epoch (UTC): the hottest rows need no conversion on their way to the driver.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import itertools
import weakref
from operator import attrgetter, itemgetter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Iterable

from sqlalchemy import Connection, bindparam, insert, literal_column, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dpistack.core.db import DriverQuery, DriverSavepoint
from dpistack.core.timeutil import iso
from dpistack.payments import money
from dpistack.payments.models import (Account, Limit, SettlementWindow, SwitchParticipant, Transfer, TransferIdBytes,
                                      id_bytes, uuid_bytes)
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

REMEMBERED = 500_000  # transfers whose facts a process keeps between their prepare and their commit


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def us(moment: datetime) -> int:
    """Microseconds since the epoch (how the transfers table keeps time; ``moment`` is aware)."""
    return (moment - _EPOCH) // _MICROSECOND


def from_us(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(value / 1_000_000, UTC) if value is not None else None


_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")
_sha256 = hashlib.sha256


def b64url(raw: bytes) -> str:
    """Base64url without padding (RFC 4648 §5), as FSPIOP writes conditions and fulfilments."""
    return binascii.b2a_base64(raw, newline=False).translate(_TO_URLSAFE).rstrip(b"=").decode()


def fulfils(fulfilment: str, condition: str) -> bool:
    """``base64url(SHA-256(base64url-decode(fulfilment))) == condition`` (a 32-byte preimage).

    Compared as bytes: the digest's 43 base64url characters (its 44th is the padding)."""
    if not fulfilment or len(fulfilment) != 43:
        return False
    try:
        preimage = binascii.a2b_base64(fulfilment.encode().translate(_TO_STANDARD) + b"=", strict_mode=True)
    except (binascii.Error, ValueError):
        return False
    digest = binascii.b2a_base64(_sha256(preimage).digest(), newline=False)[:43].translate(_TO_URLSAFE)
    return len(preimage) == 32 and hmac.compare_digest(digest, condition.encode())


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
COLUMNS = ("id", "payer", "payee", "currency", "amount", "condition", "expiration", "state", "reason",
           "fulfilment", "request_hash", "fulfil_hash", "payee_reserved", "quote_id", "bulk_id", "window_id",
           "created_at", "completed_at")


def key_of(transfer_id: str) -> bytearray:
    """A transfer's id as its rows bind it: the bytes the table keeps (``id_bytes``) in a
    bytearray, which the sqlite3 driver binds as it is where it looks for an adapter for every
    ``bytes`` value (measured: 0.6 µs a value, 8 % of the ledger's statements). A canonical
    UUID, as the API requires, is read straight into one."""
    raw = uuid_bytes(transfer_id)
    return raw if raw is not None else bytearray(id_bytes(transfer_id))


def _view(row: Any) -> dict[str, Any]:
    """A transfer as a dict; its times as datetimes; ``key``: its id as its rows bind it."""
    t = dict(zip(COLUMNS, row))
    t["key"] = key_of(t["id"])
    t["expiration"], t["created_at"] = from_us(t["expiration"]), from_us(t["created_at"])
    t["completed_at"] = from_us(t["completed_at"])
    t["payee_reserved"] = bool(t["payee_reserved"])
    return t


_SELECT = select(*(T.c[c] for c in COLUMNS))


def get_transfer(connection: Connection | Session, transfer_id: str) -> dict[str, Any] | None:
    row = connection.execute(_SELECT.where(T.c.id == transfer_id)).first()
    return _view(row) if row is not None else None


def _read(connection: Connection, ids: list[str], *, lock: bool) -> dict[str, dict[str, Any]]:
    query = _SELECT.where(T.c.id.in_(ids)).order_by(T.c.id)
    if lock and connection.dialect.name == "postgresql":
        query = query.with_for_update()
    return {row[0]: _view(row) for row in connection.execute(query)}


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

    def snapshot(self) -> dict[int, tuple[int, int]]:
        return {a["id"]: (a["value"], a["reserved"]) for a in self.accounts.values()}

    def restore(self, snapshot: dict[int, tuple[int, int]]) -> None:
        for a in self.accounts.values():
            a["value"], a["reserved"] = snapshot[a["id"]]
        self.touched.clear()


# The batch's books, read at the driver: through SQLAlchemy's execution these three look-ups
# were ~45 % of a small batch's time (measured: batches of 16 in `dpi bench payments`). The
# accounts are locked FOR UPDATE on PostgreSQL (SQLite ignores it: its transaction holds the
# write lock), in id order so that batches on several hosts never deadlock.
_ACTIVE = DriverQuery(select(P.c.name, P.c.is_active).where(P.c.name.in_(bindparam("names", expanding=True))))
_ACCOUNTS = DriverQuery(
    select(A.c.id, A.c.participant, A.c.currency, A.c.type, A.c.is_active, A.c.value, A.c.reserved)
    .where(A.c.participant.in_(bindparam("names", expanding=True)),
           A.c.currency.in_(bindparam("currencies", expanding=True)), A.c.type.in_(("POSITION", "SETTLEMENT")))
    .order_by(A.c.id).with_for_update())
_CAPS = DriverQuery(select(L.c.account_id, L.c.value).where(L.c.account_id.in_(bindparam("ids", expanding=True)),
                                                            L.c.type == "NET_DEBIT_CAP"))
_ACCOUNT_KEYS = ("id", "participant", "currency", "type", "is_active", "value", "reserved")


def _books(connection: Connection, participants: Iterable[str], currencies: Iterable[str]) -> _Books:
    names, currencies = sorted(set(participants)), sorted(set(currencies))
    active = {name: bool(flag) for name, flag in _ACTIVE.all(connection, {"names": names})}
    rows = _ACCOUNTS.all(connection, {"names": names, "currencies": currencies})
    accounts = {(r[1], r[2], r[3]): dict(zip(_ACCOUNT_KEYS, r)) for r in rows}
    positions = [r[0] for r in rows if r[3] == "POSITION"]
    limits = dict(_CAPS.all(connection, {"ids": positions})) if positions else {}
    return _Books(active, accounts, limits)


_UPDATE_ACCOUNT = DriverQuery(update(A).where(A.c.id == bindparam("b_id")).values(
    value=bindparam("value"), reserved=bindparam("reserved"), changed_at=bindparam("changed_at")))


def _write_accounts(connection: Connection, books: _Books, now: datetime) -> None:
    rows = [{"b_id": a["id"], "value": a["value"], "reserved": a["reserved"], "changed_at": now}
            for a in books.accounts.values() if a["id"] in books.touched]
    if rows:
        _UPDATE_ACCOUNT.many(connection, rows)


_OPEN_WINDOW = DriverQuery(select(W.c.id).where(W.c.state == "OPEN").with_for_update(read=True))


def open_window(connection: Connection, now: datetime) -> int:
    """The id of the OPEN settlement window (made on first use). On PostgreSQL the row is
    share-locked, so a window cannot close under a batch that is committing into it."""
    row = _OPEN_WINDOW.first(connection, {})
    if row is not None:
        return row[0]
    return connection.execute(insert(W).values(state="OPEN", reason="first window", created_at=now,
                                               changed_at=now).returning(W.c.id)).scalar_one()


def headroom(books: _Books, payer: str, currency: str) -> tuple[int, int]:
    """(what the net debit cap leaves free, what liquidity leaves free) for a payer's position."""
    position = books.account(payer, currency, "POSITION")
    settlement = books.account(payer, currency, "SETTLEMENT")
    used = position["value"] + position["reserved"]
    cap = books.limits.get(position["id"], 0)
    liquidity = -settlement["value"] - settlement["reserved"] if settlement else 0
    return cap - used, liquidity - used


class Memory:
    """This process's memory of the transfers it prepared: their facts, which never change
    (parties, amount, condition, expiry), so that their commit need not read them back."""

    def __init__(self, size: int = REMEMBERED):
        self._facts: dict[str, dict[str, Any]] = {}  # oldest first (a dict keeps insertion order)
        self._size = size

    def remember(self, transfers: list[dict[str, Any]]) -> None:
        kept = self._facts
        for t in transfers:
            kept[t["id"]] = t
        if len(kept) > self._size:
            for oldest in list(itertools.islice(kept, len(kept) - self._size)):
                del kept[oldest]

    def get(self, transfer_id: str) -> dict[str, Any] | None:
        return self._facts.get(transfer_id)

    def all_of(self, transfer_ids: list[str]) -> dict[str, dict[str, Any]] | None:
        """The facts of every one of ``transfer_ids`` (all different), or None."""
        kept, found = self._facts, {}
        for transfer_id in transfer_ids:
            t = kept.get(transfer_id)
            if t is None:
                return None
            found[transfer_id] = t
        return found if len(found) == len(transfer_ids) else None

    def forget(self, transfer_ids: Iterable[str]) -> None:
        pop = self._facts.pop
        for transfer_id in transfer_ids:
            pop(transfer_id, None)


_memories: "weakref.WeakKeyDictionary[Any, Memory]" = weakref.WeakKeyDictionary()


def memory(session: Session) -> Memory:
    """The memory for the session's database (one per engine in a process)."""
    engine = session.get_bind().engine  # a write's session is bound to a connection of it
    found = _memories.get(engine)
    if found is None:
        found = _memories[engine] = Memory()
    return found


# -- prepare ------------------------------------------------------------------------------------
# Three shapes of the prepare's INSERT. Binding None costs the sqlite3 driver a look-up of
# adapters per value (measured: ~5 % of the ledger's time), so the common rows leave out their
# empty columns (NULL in the table) instead: a reservation with no quote and no bulk, one with a
# quote, and everything else (aborted at once, bulk members) with every column.
_PLAIN_COLUMNS = ("id", "payer", "payee", "currency", "amount", "condition", "expiration", "request_hash",
                  "created_at")
_QUOTED_COLUMNS = _PLAIN_COLUMNS + ("quote_id",)
_INSERT_COLUMNS = ("id", "payer", "payee", "currency", "amount", "condition", "expiration", "state", "reason",
                   "request_hash", "payee_reserved", "quote_id", "bulk_id", "created_at", "completed_at")
# The id is made bytes in the rows (``key_of``) and bound as it is: no conversion per row.
_ID = TransferIdBytes()
# A reservation's state and payee_reserved are the same on every row: written as literals, not bound.
_RESERVED_LITERALS = {"state": literal_column("'RESERVED'"), "payee_reserved": literal_column("0")}
_INSERTS = {columns: DriverQuery(insert(T).values({
    **{c: bindparam(c, type_=_ID) if c == "id" else bindparam(c) for c in columns},
    **(_RESERVED_LITERALS if columns != _INSERT_COLUMNS else {})}))
    for columns in (_PLAIN_COLUMNS, _QUOTED_COLUMNS, _INSERT_COLUMNS)}


class _Rows:
    """The rows a batch of prepares inserts, by shape."""

    __slots__ = ("plain", "quoted", "full")

    def __init__(self) -> None:
        self.plain: list[tuple] = []
        self.quoted: list[tuple] = []
        self.full: list[tuple] = []

    def __bool__(self) -> bool:
        return bool(self.plain or self.quoted or self.full)

    def insert(self, connection: Connection) -> None:
        for columns, rows in ((_PLAIN_COLUMNS, self.plain), (_QUOTED_COLUMNS, self.quoted),
                              (_INSERT_COLUMNS, self.full)):
            if rows:
                _INSERTS[columns].many_rows(connection, columns, rows)


def _refusal(books: _Books, p: Prepare, now: datetime) -> tuple[str, str] | None:
    """Why a prepare cannot reserve (Mojaloop's order and codes), or None."""
    if p.refusal is not None:
        return p.refusal
    active = books.active
    if not active.get(p.payer):
        return GENERIC_VALIDATION, f"Payer FSP {p.payer} is not an active participant of the switch"
    if not active.get(p.payee):
        return GENERIC_VALIDATION, f"Payee FSP {p.payee} is not an active participant of the switch"
    if p.payer == p.payee:
        return GENERIC_VALIDATION, "Payer FSP and payee FSP must differ (no on-us transfers)"
    position = books.account(p.payer, p.currency, "POSITION")
    if position is None:
        return GENERIC_VALIDATION, f"Payer FSP {p.payer} has no active {p.currency} position account"
    if books.account(p.payee, p.currency, "POSITION") is None:
        return GENERIC_VALIDATION, f"Payee FSP {p.payee} has no active {p.currency} position account"
    if p.expiration <= now:
        return GENERIC_VALIDATION, f"Expiration date {iso(p.expiration)} is already in the past"
    if p.amount <= 0:
        return GENERIC_VALIDATION, "The amount must be greater than zero"
    if p.late_refusal is not None:
        return p.late_refusal
    cap_left, liquidity_left = headroom(books, p.payer, p.currency)
    if p.amount > liquidity_left:
        return PAYER_LIQUIDITY, "The transfer would exceed the funds the payer holds at the switch"
    if p.amount > cap_left:
        return PAYER_LIMIT, "The transfer would exceed the net debit cap"
    return None


def _duplicate(existing: dict[str, Any], request_hash: str) -> Outcome:
    if existing["request_hash"] != request_hash:
        return Outcome(existing["id"], "refused", (MODIFIED_REQUEST, "Modified request: transfer ID already used"))
    return Outcome(existing["id"], "ignore" if existing["state"] == "RESERVED" else "resend", transfer=existing)


_UNSEEN: Any = object()
_PAYER, _PAYEE, _CURRENCY = itemgetter("payer"), itemgetter("payee"), itemgetter("currency")
_PREPARE_PAYER, _PREPARE_PAYEE, _PREPARE_CURRENCY = attrgetter("payer"), attrgetter("payee"), attrgetter("currency")


def _open_pair(books: _Books, payer: str, payee: str, currency: str
               ) -> tuple[dict[str, Any], dict[str, Any], int] | None:
    """(payer's position, payer's settlement account, net debit cap) when both FSPs are active,
    differ and hold active accounts in ``currency``; None otherwise (``_refusal`` says why)."""
    active = books.active
    position = books.account(payer, currency, "POSITION")
    settlement = books.account(payer, currency, "SETTLEMENT")
    if (payer == payee or not active.get(payer) or not active.get(payee) or position is None or settlement is None
            or books.account(payee, currency, "POSITION") is None):
        return None
    return position, settlement, books.limits.get(position["id"], 0)


def _decide(books: _Books, items: list[Prepare], now: datetime, known: dict[str, dict[str, Any]]
            ) -> tuple[list[Outcome], _Rows]:
    """Each prepare's outcome against ``books`` (reservations applied in memory), and the rows.

    The ledger's hottest loop: a prepare that passes every check (almost all) costs a few
    lookups and comparisons here; only one that fails one goes through ``_refusal`` to learn
    which check, in Mojaloop's order, and with what words."""
    now_us = us(now)
    outcomes, rows = [], _Rows()
    plain, quoted = rows.plain, rows.quoted
    touched = books.touched
    # per (payer, payee, currency), what the checks that depend on the three alone found:
    # (payer's position, its settlement account, its net debit cap), or None if one fails
    pairs: dict[tuple[str, str, str], tuple[dict[str, Any], dict[str, Any], int] | None] = {}
    for p in items:
        transfer_id, payer, payee, currency, amount = p.transfer_id, p.payer, p.payee, p.currency, p.amount
        existing = known.get(transfer_id)
        if existing is not None:
            outcomes.append(_duplicate(existing, p.request_hash))
            continue
        pair = pairs.get((payer, payee, currency), _UNSEEN)
        if pair is _UNSEEN:
            pair = pairs[(payer, payee, currency)] = _open_pair(books, payer, payee, currency)
        refusal = None
        if pair is None or p.refusal is not None or p.late_refusal is not None or p.expiration <= now or amount <= 0:
            refusal = _refusal(books, p, now)
        else:
            position, settlement, cap = pair
            used = position["value"] + position["reserved"]
            if amount > -settlement["value"] - settlement["reserved"] - used or amount > cap - used:
                refusal = _refusal(books, p, now)
        state = "ABORTED" if refusal else "RESERVED"
        reason = f"{refusal[0]} {refusal[1]}"[:200] if refusal else None
        key = key_of(transfer_id)
        view = {"id": transfer_id, "payer": payer, "payee": payee, "currency": currency, "amount": amount,
                "condition": p.condition, "expiration": p.expiration, "state": state, "reason": reason,
                "fulfilment": None, "request_hash": p.request_hash, "fulfil_hash": None, "payee_reserved": False,
                "quote_id": p.quote_id, "bulk_id": p.bulk_id, "window_id": None, "created_at": now,
                "completed_at": now if refusal else None, "key": key}
        known[transfer_id] = view
        if refusal:
            rows.full.append((key, payer, payee, currency, amount, p.condition, us(p.expiration), state,
                              reason, p.request_hash, 0, p.quote_id, p.bulk_id, now_us, now_us))
            outcomes.append(Outcome(transfer_id, "aborted", refusal, view))
            continue
        if p.bulk_id is not None:
            rows.full.append((key, payer, payee, currency, amount, p.condition, us(p.expiration), state,
                              None, p.request_hash, 0, p.quote_id, p.bulk_id, now_us, None))
        elif p.quote_id is None:
            plain.append((key, payer, payee, currency, amount, p.condition, us(p.expiration), p.request_hash, now_us))
        else:
            quoted.append((key, payer, payee, currency, amount, p.condition, us(p.expiration), p.request_hash, now_us,
                           p.quote_id))
        position["reserved"] += amount
        touched.add(position["id"])
        outcomes.append(Outcome(transfer_id, "reserved", None, view))
    return outcomes, rows


def prepare(session: Session, items: list[Prepare], now: datetime) -> list[Outcome]:
    """Reserve each transfer's amount in its payer's position, or record why not."""
    connection = session.connection()
    names = set(map(_PREPARE_PAYER, items))
    names.update(map(_PREPARE_PAYEE, items))
    books = _books(connection, names, set(map(_PREPARE_CURRENCY, items)))
    before = books.snapshot()
    outcomes, rows = _decide(books, items, now, {})
    try:
        with DriverSavepoint(connection):  # new ids, as almost always: one INSERT for the batch
            rows.insert(connection)
    except (IntegrityError, connection.dialect.dbapi.IntegrityError):  # an id exists: again, knowing which
        books.restore(before)
        known = _read(connection, [p.transfer_id for p in items], lock=False)
        outcomes, rows = _decide(books, items, now, known)
        rows.insert(connection)
    _write_accounts(connection, books, now)
    memory(session).remember([o.transfer for o in outcomes if o.kind == "reserved"])
    return outcomes


# -- commit, reject, expire ---------------------------------------------------------------------
# A transfer leaves RESERVED once, by one of these (only a RESERVED row matches; its reason,
# fulfilment, fulfilment hash and window are still empty, so each sets only what it decides).
# Two shapes of the commit: the payee asked to be told (payee_reserved 1) or not; a literal each.
_COMMIT_COLUMNS = ("fulfilment", "fulfil_hash", "window_id", "completed_at", "b_id")
_RESERVED, _COMMITTED, _ABORTED = (literal_column(f"'{state}'") for state in ("RESERVED", "COMMITTED", "ABORTED"))
_COMMITS = {told: DriverQuery(update(T).where(T.c.id == bindparam("b_id", type_=_ID), T.c.state == _RESERVED).values(
    state=_COMMITTED, fulfilment=bindparam("fulfilment"), fulfil_hash=bindparam("fulfil_hash"),
    payee_reserved=literal_column(str(int(told))), window_id=bindparam("window_id"),
    completed_at=bindparam("completed_at"))) for told in (False, True)}
_ABORT_COLUMNS = ("reason", "completed_at", "b_id")
_ABORT = DriverQuery(update(T).where(T.c.id == bindparam("b_id", type_=_ID), T.c.state == _RESERVED).values(
    state=_ABORTED, reason=bindparam("reason"), completed_at=bindparam("completed_at")))


class _Finishing:
    """The transfers a batch commits or aborts, with the books of their parties."""

    def __init__(self, session: Session, transfers: dict[str, dict[str, Any]], now: datetime):
        self.connection = session.connection()
        self.session, self.now, self.now_us = session, now, us(now)
        self.transfers = transfers
        live = [t for t in transfers.values() if t["state"] == "RESERVED"]
        if live:
            names = set(map(_PAYER, live))
            names.update(map(_PAYEE, live))
            self.books: _Books | None = _books(self.connection, names, set(map(_CURRENCY, live)))
        else:
            self.books = None
        self.finished: list[str] = []  # the ids this batch commits or aborts
        self.commits: dict[bool, list[tuple]] = {False: [], True: []}  # rows for _COMMITS, by payee_reserved
        self.aborts: list[tuple] = []  # rows for _ABORT
        self.logged: list[list] = []  # the committed transfers as the transparency log lists them
        # what the commits move, per (payer, payee, currency): [amount, transfers]; applied to the
        # positions and the window's totals once per pair as the batch is written
        self.pairs: dict[tuple[str, str, str], list[int]] = {}
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
        self.aborts.append((t["reason"], self.now_us, t["key"]))
        self.finished.append(t["id"])

    def commit(self, t: dict[str, Any], fulfilment: str, fulfil_hash: str, payee_reserved: bool) -> None:
        window = self._window if self._window is not None else self.window()
        t["state"], t["fulfilment"], t["fulfil_hash"] = "COMMITTED", fulfilment, fulfil_hash
        t["payee_reserved"], t["window_id"], t["completed_at"] = payee_reserved, window, self.now
        self.commits[payee_reserved].append((fulfilment, fulfil_hash, window, self.now_us, t["key"]))
        self.finished.append(t["id"])
        payer, payee, currency, amount = t["payer"], t["payee"], t["currency"], t["amount"]
        self.logged.append([t["id"], payer, payee, currency, money.to_amount(amount, currency), window])
        pair = self.pairs.get((payer, payee, currency))
        if pair is None:
            pair = self.pairs[(payer, payee, currency)] = [0, 0]
        pair[0] += amount
        pair[1] += 1

    def _settle_pairs(self) -> dict[tuple[int, str, str], list[int]]:
        """Move the committed amounts between the positions; the window's totals they add:
        per (window, FSP, currency), [sent, received, sent_count] (see _add_to_windows)."""
        accounts, touched, window = self.books.accounts, self.books.touched, self._window
        totals: dict[tuple[int, str, str], list[int]] = {}
        for (payer, payee, currency), (amount, count) in self.pairs.items():
            sender, receiver = accounts[(payer, currency, "POSITION")], accounts[(payee, currency, "POSITION")]
            sender["reserved"] -= amount
            sender["value"] += amount
            receiver["value"] -= amount
            touched.add(sender["id"])
            touched.add(receiver["id"])
            sent = totals.setdefault((window, payer, currency), [0, 0, 0])
            sent[0] += amount
            sent[2] += count
            totals.setdefault((window, payee, currency), [0, 0, 0])[1] += amount
        return totals

    def write(self, *, strict: bool = False) -> bool:
        """Write what the batch decided; with ``strict``, only if every transfer was still RESERVED
        (False, and nothing written, otherwise: the caller takes the careful way)."""
        finishing = sum(map(len, self.commits.values())) + len(self.aborts)
        if finishing:
            savepoint = DriverSavepoint(self.connection) if strict else None
            changed = 0
            for told, rows in self.commits.items():
                if rows:
                    changed += _COMMITS[told].many_rows(self.connection, _COMMIT_COLUMNS, rows)
            if self.aborts:
                changed += _ABORT.many_rows(self.connection, _ABORT_COLUMNS, self.aborts)
            if savepoint is not None:
                if changed != finishing:
                    savepoint.rollback()
                    return False
                savepoint.release()
        window_totals = self._settle_pairs() if self.pairs else None
        if self.books is not None:
            _write_accounts(self.connection, self.books, self.now)
        if window_totals:
            _add_to_windows(self.connection, window_totals)
        if self.logged:
            tlog.append(self.session, tlog.prepare(committed_entry(self.logged, self.now), plain=True))
        # strict: every transfer was RESERVED, so those this batch finished; otherwise also those
        # found finished (by another process) that this one may still remember
        memory(self.session).forget(self.finished if strict else
                                    [t["id"] for t in self.transfers.values() if t["state"] != "RESERVED"])
        return True


# The same statement on SQLite and PostgreSQL. On PostgreSQL a batch holds the position accounts
# of every FSP whose totals it adds to (locked in ``_books``), so two batches never race on a row.
_ADD_TO_WINDOW = text(
    "INSERT INTO payments_window_positions (window_id, participant, currency, sent, received, sent_count) "
    "VALUES (:window_id, :participant, :currency, :sent, :received, :sent_count) "
    "ON CONFLICT (window_id, participant, currency) DO UPDATE SET "
    "sent = payments_window_positions.sent + excluded.sent, "
    "received = payments_window_positions.received + excluded.received, "
    "sent_count = payments_window_positions.sent_count + excluded.sent_count")


def _add_to_windows(connection: Connection, totals: dict[tuple[int, str, str], list[int]]) -> None:
    """Add a batch's totals to its windows': per (window, FSP, currency), [sent, received, sent_count]."""
    connection.execute(_ADD_TO_WINDOW, [
        {"window_id": w, "participant": p, "currency": c, "sent": sent, "received": received, "sent_count": n}
        for (w, p, c), (sent, received, n) in sorted(totals.items())])


def committed_entry(logged: list[list], now: datetime) -> dict[str, Any]:
    """The transparency-log entry of a batch of committed transfers: for each, its id, FSPs,
    currency, amount and window (``_Finishing.commit`` lists them), and the time; never a party
    (an auditor recomputes every position from these)."""
    return {"type": "payments.transfers.committed", "time": iso(now), "transfers": logged}


def _judge(batch: _Finishing, f: Fulfil, now: datetime) -> Outcome:
    t = batch.transfers.get(f.transfer_id)
    if t is None:
        return Outcome(f.transfer_id, "refused", (TRANSFER_NOT_FOUND, "Transfer ID not found"))
    if f.sender != t["payee"] or (f.destination is not None and f.destination != t["payer"]):
        # Refused without touching the transfer: only its payee may settle its fate.
        return Outcome(f.transfer_id, "refused", (
            GENERIC_VALIDATION, "FSPIOP-Source must be the payee FSP and FSPIOP-Destination the payer FSP"))
    if t["state"] != "RESERVED":
        if t["fulfil_hash"] == f.fulfil_hash:
            return Outcome(f.transfer_id, "resend", transfer=t)
        if t["state"] == "ABORTED" and t["reason"] and t["reason"].startswith(TRANSFER_EXPIRED):
            return Outcome(f.transfer_id, "refused", (TRANSFER_EXPIRED, "Transfer expired"), t)
        if t["fulfil_hash"] is not None:
            return Outcome(f.transfer_id, "refused", (MODIFIED_REQUEST, "Modified request"), t)
        return Outcome(f.transfer_id, "refused", (GENERIC_VALIDATION, f"The transfer is {t['state']}, not RESERVED"), t)
    if t["expiration"] <= now:
        batch.abort(t, TRANSFER_EXPIRED, "Transfer expired")
        return Outcome(f.transfer_id, "aborted", (TRANSFER_EXPIRED, "Transfer expired"), t, True)
    if f.state == "ABORTED":
        batch.abort(t, "5104", "Payee rejected transaction")
        t["fulfil_hash"] = f.fulfil_hash
        return Outcome(f.transfer_id, "aborted", None, t)
    if not f.fulfilment or not fulfils(f.fulfilment, t["condition"]):
        batch.abort(t, GENERIC_VALIDATION, "Invalid fulfilment")
        return Outcome(f.transfer_id, "aborted", (GENERIC_VALIDATION, "Invalid fulfilment"), t, True)
    told = f.state == "RESERVED"
    batch.commit(t, f.fulfilment, f.fulfil_hash, told)
    return Outcome(f.transfer_id, "committed", None, t, told)


def commit(session: Session, items: list[Fulfil], now: datetime) -> list[Outcome]:
    """The payee's answer to a prepare: commit it (COMMITTED, or RESERVED asking to be told),
    abort it (ABORTED), or refuse what does not hold."""
    remembered = memory(session)
    ids = [f.transfer_id for f in items]
    facts = remembered.all_of(ids)
    if facts is not None:  # the fast way: prepared here, assumed RESERVED still
        # judged in the memory's own dicts (no copies): forgotten unless the batch is written
        batch = _Finishing(session, facts, now)
        try:
            outcomes = [_judge(batch, f, now) for f in items]
            written = batch.write(strict=True)
        except BaseException:
            remembered.forget(ids)
            raise
        if written:
            return outcomes
        remembered.forget(ids)
    transfers = _read(session.connection(), ids, lock=True)
    batch = _Finishing(session, transfers, now)
    outcomes = [_judge(batch, f, now) for f in items]
    batch.write()
    return outcomes


def reject(session: Session, items: list[Reject], now: datetime) -> list[Outcome]:
    """The payee's error callback: abort a reserved transfer (a finished one stays as it is)."""
    batch = _Finishing(session, _read(session.connection(), [r.transfer_id for r in items], lock=True), now)
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
    query = select(T.c.id).where(T.c.state == "RESERVED", T.c.expiration <= us(now)).limit(limit)
    if connection.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    ids = list(connection.execute(query).scalars())
    if not ids:
        return []
    batch = _Finishing(session, _read(connection, ids, lock=True), now)
    outcomes = []
    for t in batch.transfers.values():
        if t["state"] == "RESERVED" and t["expiration"] <= now:
            batch.abort(t, TRANSFER_EXPIRED, "Transfer expired")
            outcomes.append(Outcome(t["id"], "aborted", (TRANSFER_EXPIRED, "Transfer expired"), t, True))
    batch.write()
    return outcomes
