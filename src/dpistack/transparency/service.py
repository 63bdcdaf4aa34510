"""The transparency log: an append-only RFC 9162 Merkle tree of governance decisions and of
every access to personal data.

Appends happen inside the caller's transaction, so a decision and its log entry commit
together or not at all.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any, Iterable

import rfc8785
from sqlalchemy import insert, update
from sqlalchemy.orm import Session

from dpistack.core.timeutil import iso, utcnow
from dpistack.transparency.models import LogEntry, LogHead


def leaf_hash(entry_bytes: bytes) -> bytes:
    """RFC 9162 §2.1.1: SHA-256(0x00 || entry)."""
    return hashlib.sha256(b"\x00" + entry_bytes).digest()


def encode_entry(entry: dict[str, Any]) -> bytes:
    """The exact bytes that are hashed and served: RFC 8785 canonical JSON."""
    return rfc8785.dumps(entry)


def append(session: Session, entry: dict[str, Any]) -> int:
    """Append one entry in the caller's transaction; returns its index."""
    return append_many(session, [entry])[0]


def append_many(session: Session, entries: Iterable[dict[str, Any]]) -> list[int]:
    """Append entries in order in the caller's transaction; returns their indexes.

    The head row is updated first: its row lock (PostgreSQL) or the write lock (SQLite) makes
    concurrent appenders take turns, so indexes are dense and never reused.
    """
    blobs = [encode_entry(e) for e in entries]
    if not blobs:
        return []
    new_size = session.execute(
        update(LogHead).where(LogHead.id == 1).values(size=LogHead.size + len(blobs)).returning(LogHead.size)
    ).scalar_one()
    first = new_size - len(blobs)
    now = utcnow()
    session.execute(
        insert(LogEntry),
        [
            {"idx": first + i, "leaf_hash": leaf_hash(b), "entry": b, "created_at": now}
            for i, b in enumerate(blobs)
        ],
    )
    return list(range(first, new_size))


def governance_entry(event: str, **facts: Any) -> dict[str, Any]:
    """A governance decision: proposal submitted, approval recorded, proposal enacted/rejected."""
    return {"type": f"governance.{event}", "time": iso(utcnow()), **facts}


def pseudonym(secret: bytes, subject: str) -> str:
    """A stable pseudonym for a person: never the raw UIN in the log (HMAC-SHA256, 128 bits)."""
    return hmac.new(secret, subject.encode(), hashlib.sha256).hexdigest()[:32]


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
