"""What an authentication reads about a person, and the per-process cache of it.

An authentication reads three things about the person it names: the record behind the UIN or
VID, their failures since their last success (for lockout), and the authentication types they
locked. Reading them costs a pool checkout, a transaction and three statements: more than
all the rest of an authentication. So each worker process keeps the answer for people in good
standing (no recent failure) and drops it as soon as the host's change board says the person
changed. Every write that changes what is read here (a failed attempt, a lock, a VID, the
record) calls :func:`changed`, which bumps the person's slot once that write commits.

Order matters: the slot is read *before* the database, so a change committed meanwhile makes
the kept answer stale at once. The record itself is not kept: what a demographic factor is
compared with (names, birth date, sex) is kept only as keyed digests, so no personal data
stays in memory and an entry is small. Unknown IDs, people with recent failures and
single-use VIDs are never kept.
"""

from __future__ import annotations

import dataclasses
import hmac
import json
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable

from sqlalchemy import Connection, bindparam, case, func, literal_column, select
from sqlalchemy.orm import Session

from dpistack.core.changeboard import ChangeBoard
from dpistack.core.crypto import FieldCipher, blind_index
from dpistack.core.db import Database, DriverQuery
from dpistack.core.timeutil import utcnow
from dpistack.identity import matching, numbers, vids
from dpistack.identity.models import FAILED_OUTCOMES, AuthEvent, AuthLock, Person

LOCKOUT_WINDOW = timedelta(minutes=15)
TTL_SECONDS = 60.0  # a safety net: a process killed between a commit and its bump leaves nothing stale longer
MAX_PEOPLE = 50_000  # per process (about 0.8 KB each: 40 MB); the oldest kept goes first


def subject_of(index_key: bytes, uin: str) -> str:
    """The key of a person's authentication history, locks and change-board slot."""
    return blind_index(index_key, uin, purpose="auth-history")


@dataclass(frozen=True)
class PersonState:
    uin: str  # the person's UIN, or the ID as given when it names nobody
    subject: str
    known: bool  # the ID names an active person
    failures: int  # in the lockout window, since the last success
    locked: frozenset[str]  # authentication types the person locked
    facts: bytes = b""  # keyed digests (16 bytes each) of what a demographic factor may claim
    demographics: dict | None = None  # the sealed record, when read from the database (not kept)
    # keyed values derived from the UIN (log pseudonym, partner tokens), computed once while kept
    derived: dict = dataclasses.field(default_factory=dict, compare=False, repr=False)

    def remembered(self, what: tuple, compute: Callable[[], str]) -> str:
        """``compute()``, remembered with the state: an HMAC per request less for each."""
        value = self.derived.get(what)
        if value is None:
            value = self.derived[what] = compute()
        return value


FACT_BYTES = 16


def fact(index_key: bytes, kind: str, *values: str) -> bytes:
    """The keyed digest (128 bits) of one checkable fact ("birth_date", "1990-04-12"), names
    normalised."""
    return hmac.digest(index_key, "\x00".join(("auth-match", kind, *values)).encode(), "sha256")[:FACT_BYTES]


def facts_of(index_key: bytes, data: dict) -> bytes:
    """What a demographic factor can be checked against, from the person's opened record: the
    digests end to end (one bytes object is a tenth of the memory of a set of them)."""
    found = {fact(index_key, "birth_date", data["birth_date"]), fact(index_key, "sex", data["sex"])}
    for name in data["names"]:
        given, family = matching.normalise_name(name["given"]), matching.normalise_name(name["family"])
        found |= {fact(index_key, "given", given), fact(index_key, "family", family),
                  fact(index_key, "name", given, family)}
    return b"".join(sorted(found))


def holds(state: PersonState, digest: bytes) -> bool:
    """Is ``digest`` (from :func:`fact`) one of the person's facts?"""
    facts = state.facts
    return any(facts[i:i + FACT_BYTES] == digest for i in range(0, len(facts), FACT_BYTES))


# Built once: constructing a statement costs more than SQLite takes to run it.
# Both are seeks on the (subject, outcome, created_at) index: the failed outcomes are named (as
# SQL literals, so that DriverQuery's statement is fixed), not "!= success".
_LAST_SUCCESS = (select(func.max(AuthEvent.created_at))
                 .where(AuthEvent.subject == bindparam("subject"), AuthEvent.outcome == "success").scalar_subquery())
_RECENT_FAILURES = select(func.count()).select_from(AuthEvent).where(
    AuthEvent.subject == bindparam("subject"), AuthEvent.outcome.in_([literal_column(f"'{o}'") for o in FAILED_OUTCOMES]),
    AuthEvent.created_at > bindparam("since"), AuthEvent.created_at > func.coalesce(_LAST_SUCCESS, bindparam("since")))
_LOCKED_TYPES = select(AuthLock.auth_type).where(AuthLock.subject == bindparam("subject"), AuthLock.locked)
_PERSONS = Person.__table__.c
LOCK_BITS = {"otp": 1, "demographics": 2, "biometrics": 4}  # the lockable authentication types, as one number
# Everything about a person in one statement: each statement costs more in SQLAlchemy than
# SQLite takes to answer it. The sealed record only when it is to be opened (eKYC, logins):
# parsing and decrypting it was a fifth of an authentication that reads its person.
_LOCKS = select(func.coalesce(func.sum(case(LOCK_BITS, value=AuthLock.auth_type, else_=0)), 0)).where(
    AuthLock.subject == bindparam("subject"), AuthLock.locked).scalar_subquery().label("locks")
_PERSON_STATE = select(
    _PERSONS.uin, _PERSONS.status, _PERSONS.auth_facts, _RECENT_FAILURES.scalar_subquery().label("failures"), _LOCKS,
).where(_PERSONS.uin == bindparam("uin"))
_PERSON_STATE_AND_RECORD = _PERSON_STATE.add_columns(_PERSONS.demographics)
_FAST = {False: DriverQuery(_PERSON_STATE), True: DriverQuery(_PERSON_STATE_AND_RECORD)}


def _person(session: Session | Connection, uin: str, subject: str, record: bool) -> tuple | None:
    """(uin, status, auth facts, failures, locks[, sealed record]) of the person, in one
    statement: on the driver's cursor for a plain connection (the hot path), through the
    session otherwise."""
    params = {"uin": uin, "subject": subject, "since": utcnow() - LOCKOUT_WINDOW}
    if isinstance(session, Connection):
        row = _FAST[record].first(session, params)
        if row is not None and record and isinstance(row[5], str):  # JSON column as the driver gives it
            row = (*row[:5], json.loads(row[5]))
        return row
    row = session.execute(_PERSON_STATE_AND_RECORD if record else _PERSON_STATE, params).first()
    return tuple(row) if row is not None else None


def recent_failures(session: Session | Connection, subject: str) -> int:
    """Failures in the lockout window since the last success, in one query."""
    return session.execute(_RECENT_FAILURES, {"subject": subject, "since": utcnow() - LOCKOUT_WINDOW}).scalar_one()


def locked_types(session: Session | Connection, subject: str) -> set[str]:
    """The authentication types the person has locked against relying parties."""
    return set(session.execute(_LOCKED_TYPES, {"subject": subject}).scalars())


MATCHED_FIELDS = frozenset({"names", "birth_date", "sex"})


def read(session: Session | Connection, index_key: bytes, cipher: FieldCipher, individual_id: str,
         id_type: str, record: bool = True) -> PersonState:
    """The person's state, straight from the database (in the caller's transaction), with
    their sealed record when ``record``. An ID that names no active person keeps a failure
    count of its own."""
    # Looked up if well formed (length, check digit): the issuing filters are for new numbers,
    # and a number issued before a filter was added still names its person.
    uin: str | None = individual_id if id_type != "VID" and numbers.is_valid_uin(individual_id, strict=False) else None
    if id_type == "VID":
        row = session.execute(vids.VID_ROW, {"vid": individual_id}).first() \
            if numbers.is_valid_vid(individual_id) else None
        uin = row.uin if vids.usable(row) else None
    if uin is not None:
        subject = subject_of(index_key, uin)
        person = _person(session, uin, subject, record)
        if person is not None and person[2] is None and not record:  # enrolled before facts were kept
            person = _person(session, uin, subject, True)
        if person is not None and person[1] == "active":
            facts, failures, locks = person[2:5]
            sealed = person[5] if len(person) > 5 else None
            if facts is None:
                facts = facts_of(index_key, cipher.decrypt_fields(sealed, record=uin, only=MATCHED_FIELDS))
            locked = frozenset(t for t, bit in LOCK_BITS.items() if int(locks) & bit)
            return PersonState(uin, subject, True, failures, locked, bytes(facts), sealed)
    subject = subject_of(index_key, individual_id)
    return PersonState(individual_id, subject, False, recent_failures(session, subject), frozenset())


class PersonStates:
    """The per-process cache. Without a change board (process caches off) it keeps nothing."""

    def __init__(self, index_key: bytes, cipher: FieldCipher, board: ChangeBoard | None, ttl: float = TTL_SECONDS,
                 max_people: int = MAX_PEOPLE):
        self._index_key, self._cipher, self._board, self._ttl, self._max = index_key, cipher, board, ttl, max_people
        self._kept: dict[tuple[str, str], tuple[PersonState, int, float]] = {}

    def cached(self, individual_id: str, id_type: str) -> PersonState | None:
        """The kept state if it is still true, else None (then :meth:`read`)."""
        if self._board is None:
            return None
        key = (id_type, individual_id)
        entry = self._kept.get(key)
        if entry is None:
            return None
        state, stamp, until = entry
        if time.monotonic() > until or self._board.stamp(state.subject) != stamp:
            self._kept.pop(key, None)
            return None
        return state

    def read(self, db: Database, individual_id: str, id_type: str, record: bool = False) -> PersonState:
        """Read the state from the database (with the sealed record when ``record``), and keep
        it when it may be kept."""
        uin = self._keepable_uin(db, individual_id, id_type)
        if uin is None:
            with db.reading() as connection:
                return read(connection, self._index_key, self._cipher, individual_id, id_type, record)
        subject = subject_of(self._index_key, uin)
        stamp = self._board.stamp(subject)  # before the read: a change committed after it shows
        with db.reading() as connection:
            state = read(connection, self._index_key, self._cipher, individual_id, id_type, record)
        if state.known and state.failures == 0 and state.subject == subject:
            if len(self._kept) >= self._max:
                self._kept.pop(next(iter(self._kept), None), None)
            kept = dataclasses.replace(state, demographics=None)  # the record itself is read when it is opened
            self._kept[(id_type, individual_id)] = (kept, stamp, time.monotonic() + self._ttl)
        return state

    def _keepable_uin(self, db: Database, individual_id: str, id_type: str) -> str | None:
        """The UIN whose slot guards this ID, or None when the answer must not be kept."""
        if self._board is None:
            return None
        if id_type != "VID":
            return individual_id if numbers.is_valid_uin(individual_id, strict=False) else None
        if not numbers.is_valid_vid(individual_id):
            return None
        # The VID's own row in a transaction of its own: the stamp must come before the
        # transaction whose answer is kept (which reads the VID again).
        with db.reading() as connection:
            row = connection.execute(vids.VID_ROW, {"vid": individual_id}).first()
        if not vids.usable(row) or row.expires_at is not None or row.transactions_left is not None:
            return None  # single-use and expiring VIDs are read every time
        return row.uin

    def changed(self, session: Session, uin: str) -> None:
        """What authentication reads about the person changes in ``session``: every process
        drops its kept state once it commits."""
        if self._board is not None:
            self._board.bump_after_commit(session, subject_of(self._index_key, uin))
