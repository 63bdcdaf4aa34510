"""The transparency log: an append-only RFC 9162 Merkle tree of governance decisions and of
every access to personal data.

Appends happen inside the caller's transaction, so a decision and its log entry commit
together or not at all.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable

import rfc8785
from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.orm import Session

from dpistack.core.db import DriverQuery
from dpistack.core.errors import Problem
from dpistack.core.groupcommit import batch_of
from dpistack.core.platform import Platform
from dpistack.core.timeutil import iso, utcnow
from dpistack.transparency import note
from dpistack.transparency.merkle import MerkleTree, hash_leaf
from dpistack.transparency.models import LogEntry, LogHead

SYNC_BATCH = 50_000


class OutOfRange(Problem):
    status = 400
    title = "Out of range"


leaf_hash = hash_leaf  # RFC 9162 §2.1.1: SHA-256(0x00 || entry)


_canonical_dumps = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False).encode


def _plain(value: Any) -> bool:
    """True when ``json`` and RFC 8785 serialise ``value`` identically: ASCII keys (so both
    sort orders agree), no floats (number formatting differs), safe integers, strings without
    lone surrogates."""
    if isinstance(value, str):
        return value.isascii() or not any("\ud800" <= c <= "\udfff" for c in value)
    if isinstance(value, bool) or value is None:
        return True
    if isinstance(value, int):
        return -(2**53) < value < 2**53
    if isinstance(value, dict):
        return all(isinstance(k, str) and k.isascii() and _plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    return False


def encode_entry(entry: dict[str, Any]) -> bytes:
    """The exact bytes that are hashed and served: RFC 8785 canonical JSON.

    The standard library's encoder is three times faster than ``rfc8785`` and gives the same
    bytes for plain entries (a test checks this against ``rfc8785``); anything else takes the
    general path.
    """
    if _plain(entry):
        return _canonical_dumps(entry).encode()
    return rfc8785.dumps(entry)


@dataclass(frozen=True)
class Prepared:
    """An entry encoded and hashed ahead of its transaction: encoding is most of an append's
    work, and a hot path does it before it takes the write lock."""

    blob: bytes
    leaf: bytes
    subject: str | None = None  # the pseudonym an access entry is about (indexed for the data tracker)


def _subject(entry: dict[str, Any]) -> str | None:
    subject = entry.get("subject") if entry.get("type") == "data.access" else None
    return subject if isinstance(subject, str) and len(subject) <= 64 else None


def prepare(entry: dict[str, Any], *, plain: bool = False) -> Prepared:
    """``plain``: the caller vouches that the entry holds only ASCII keys and strings, integers
    and lists/objects of them (its RFC 8785 form is then the standard encoder's, no check needed:
    the check walked every value, a cost on entries listing thousands of transfers)."""
    blob = _canonical_dumps(entry).encode() if plain else encode_entry(entry)
    return Prepared(blob, leaf_hash(blob), _subject(entry))


def append(session: Session, entry: dict[str, Any] | Prepared) -> int | None:
    """Append one entry in the caller's transaction; returns its index. In a group commit the
    entries of the whole batch are appended together at its end (and the index is not known)."""
    batch = batch_of(session)
    if batch is not None:
        batch.defer("transparency", entry, lambda entries: append_many(session, entries))
        return None
    return append_many(session, [entry])[0]


def append_many(session: Session, entries: Iterable[dict[str, Any] | Prepared]) -> list[int]:
    """Append entries in order in the caller's transaction; returns their indexes.

    The head row is updated first: its row lock (PostgreSQL) or the write lock (SQLite) makes
    concurrent appenders take turns, so indexes are dense and never reused.
    """
    prepared = [e if isinstance(e, Prepared) else prepare(e) for e in entries]
    if not prepared:
        return []
    # Core statements on the session's connection, built once: the ORM's bulk machinery cost
    # more than the writes themselves (profiled under authentication load).
    connection = session.connection()
    new_size = _BUMP_HEAD.first(connection, {"n": len(prepared)})[0]
    first = new_size - len(prepared)
    now = utcnow()
    if connection.dialect.driver == "psycopg":
        _copy_rows(connection, [(first + i, p.leaf, p.blob, now, p.subject) for i, p in enumerate(prepared)])
    else:
        _INSERT_ENTRIES.many(connection, [
            {"idx": first + i, "leaf_hash": p.leaf, "entry": p.blob, "created_at": now, "subject": p.subject}
            for i, p in enumerate(prepared)])
    return list(range(first, new_size))


_BUMP_HEAD = DriverQuery(update(LogHead.__table__).where(LogHead.__table__.c.id == 1)
                         .values(size=LogHead.__table__.c.size + bindparam("n")).returning(LogHead.__table__.c.size))
_INSERT_ENTRIES = DriverQuery(insert(LogEntry.__table__).values(
    {c: bindparam(c) for c in ("idx", "leaf_hash", "entry", "created_at", "subject")}))  # on the driver: SQLAlchemy's
# per-execution work cost more than the rows themselves under authentication load


def _copy_rows(connection: Connection, rows: list[tuple[int, bytes, bytes, datetime, str | None]]) -> None:
    """Insert entry rows with PostgreSQL COPY, in the connection's transaction.

    psycopg's executemany sends one INSERT per row; COPY made PostgreSQL appends about 2.3
    times faster in `dpi bench transparency`.
    """
    columns = "idx, leaf_hash, entry, created_at, subject"
    with connection.connection.driver_connection.cursor() as cursor:
        with cursor.copy(f"COPY {LogEntry.__tablename__} ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["int8", "bytea", "bytea", "timestamptz", "text"])
            for row in rows:
                copy.write_row(row)


def governance_entry(event: str, **facts: Any) -> dict[str, Any]:
    """A governance decision: proposal submitted, approval recorded, proposal enacted/rejected."""
    return {"type": f"governance.{event}", "time": iso(utcnow()), **facts}


def pseudonym(secret: bytes, subject: str) -> str:
    """A stable pseudonym for a person: never the raw UIN in the log (HMAC-SHA256, 128 bits)."""
    return hmac.digest(secret, subject.encode(), "sha256").hex()[:32]  # one-shot: no HMAC object


def access_entry(
    *,
    subject_pseudonym: str,
    accessor: str,
    categories: list[str],
    purpose: str,
    consent_id: str | None = None,
    legal_basis: str | None = None,
) -> dict[str, Any]:
    """An access to personal data. It must name a consent or a legal basis."""
    if not (consent_id or legal_basis):
        raise ValueError("an access to personal data needs a consent id or a legal basis")
    entry: dict[str, Any] = {
        "type": "data.access",
        "time": iso(utcnow()),
        "subject": subject_pseudonym,
        "accessor": accessor,
        "categories": sorted(categories),
        "purpose": purpose,
    }
    if consent_id:
        entry["consent_id"] = consent_id
    if legal_basis:
        entry["legal_basis"] = legal_basis
    return entry


# -- reading: the per-process tree, checkpoints, proofs -----------------------------------------
def tree(platform: Platform, at_least: int | None = None) -> MerkleTree:
    """This process's tree, brought up to date with every committed entry.

    Entries are immutable and committed in index order (appends take turns on the head row),
    so the cache only ever grows by reading rows past its size. With ``at_least``, a cache
    that already holds that many entries is used as it is, without asking the database.
    """
    cached: MerkleTree = platform.extras.setdefault("tlog_tree", MerkleTree())
    if at_least is not None and cached.size >= at_least:
        return cached
    with cached.lock:
        with platform.db.engine.connect() as session:
            while True:
                rows = session.execute(
                    select(LogEntry.idx, LogEntry.leaf_hash)
                    .where(LogEntry.idx >= cached.size)
                    .order_by(LogEntry.idx)
                    .limit(SYNC_BATCH)
                ).all()
                expected = cached.size
                dense = []
                for idx, h in rows:
                    if idx != expected:
                        break  # a later index without its predecessor: not ours to see yet
                    dense.append(h)
                    expected += 1
                cached.extend(dense)
                if len(rows) < SYNC_BATCH or len(dense) < len(rows):
                    break
    return cached


def entries_about(platform: Platform, subject: str, limit: int = 1000,
                  before: int | None = None) -> list[tuple[int, bytes]]:
    """(index, exact bytes) of the newest access entries about the person with this pseudonym
    (those older than entry ``before``, for the next page)."""
    query = select(LogEntry.idx, LogEntry.entry).where(LogEntry.subject == subject)
    if before is not None:
        query = query.where(LogEntry.idx < before)
    with platform.db.uow() as session:
        rows = session.execute(query.order_by(LogEntry.idx.desc()).limit(limit)).all()
    return [(idx, bytes(entry)) for idx, entry in rows]


def signed_checkpoint(platform: Platform, size: int | None = None) -> str:
    """The C2SP signed checkpoint (origin, size, root) of every committed entry (or of the first
    ``size`` entries, to go with proofs made at that size)."""
    t = tree(platform, at_least=size)
    size = t.size if size is None else size
    return note.sign_checkpoint(platform.settings.log_origin, size, t.root(size), platform.keys.log_private_key())


def verifier_key(platform: Platform) -> str:
    """The note verifier key auditors check checkpoints with (``<name>+<hash>+<key>``)."""
    return note.verifier_key(platform.settings.log_origin, platform.keys.log_private_key().public_key())


def get_entry(platform: Platform, index: int) -> bytes | None:
    """The exact bytes of entry ``index`` (the leaf is their hash), or None if there is none."""
    with platform.db.uow() as session:
        return session.scalar(select(LogEntry.entry).where(LogEntry.idx == index))


def inclusion_proof(platform: Platform, index: int, tree_size: int) -> list[bytes]:
    """RFC 9162 inclusion proof of entry ``index`` in the tree of ``tree_size`` entries."""
    t = tree(platform, at_least=tree_size)
    if tree_size > t.size:
        raise OutOfRange(f"tree_size {tree_size} is beyond the log's size {t.size}")
    if index >= tree_size:
        raise OutOfRange(f"index {index} is not below tree_size {tree_size}")
    return t.inclusion_proof(index, tree_size)


def consistency_proof(platform: Platform, first: int, second: int) -> list[bytes]:
    """RFC 9162 consistency proof from tree size ``first`` (> 0) to ``second``."""
    t = tree(platform, at_least=second)
    if second > t.size:
        raise OutOfRange(f"second {second} is beyond the log's size {t.size}")
    if not 0 < first <= second:
        raise OutOfRange("need 0 < first <= second (RFC 9162 defines no proof from the empty tree)")
    return t.consistency_proof(first, second)


def check(platform: Platform) -> list[str]:
    """Log invariants; an empty list means all hold: dense indexes from 0, each leaf hash is
    the hash of its entry bytes, the head counts the rows, and this process's tree agrees."""
    problems: list[str] = []
    expected = 0
    with platform.db.uow() as session:
        head = session.scalar(select(LogHead.size).where(LogHead.id == 1))
        while True:
            rows = session.execute(
                select(LogEntry.idx, LogEntry.leaf_hash, LogEntry.entry)
                .where(LogEntry.idx >= expected)
                .order_by(LogEntry.idx)
                .limit(SYNC_BATCH)
            ).all()
            for idx, stored, entry in rows:
                if idx != expected:
                    problems.append(f"entry {expected} is missing")
                    expected = idx
                if leaf_hash(entry) != stored:
                    problems.append(f"entry {idx}: leaf hash does not match the entry bytes")
                expected += 1
            if len(rows) < SYNC_BATCH:
                break
    if head != expected:
        problems.append(f"head says {head} entries, the table holds {expected}")
    cached = platform.extras.get("tlog_tree")
    if cached is not None:
        with platform.db.uow() as session:
            for idx, stored in session.execute(select(LogEntry.idx, LogEntry.leaf_hash).where(LogEntry.idx < cached.size)):
                if cached.leaf(idx) != stored:
                    problems.append(f"entry {idx}: differs from what this process saw before (rewritten?)")
    return problems
