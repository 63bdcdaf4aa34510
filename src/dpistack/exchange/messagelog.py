"""The message log: every exchange through the mediator, signed, in the platform database.

A record holds the parties, the service, the time, the purpose and its consent or legal
basis, the X-Road request hash and the hash of the response, and the outcome. Records are
written through the core's group commit: the records of one batch share one signature
(Ed25519, the platform's EdDSA key, over SHA-256 of their digests in order), as X-Road's
security servers sign message-log batches. An exchange of personal data also appends its
transparency-log entry in the same transaction, so both exist or neither does; and the
mediator releases the provider's answer only after that commit (fail closed).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, or_, select
from sqlalchemy.orm import Session

from dpistack.core.db import DriverQuery
from dpistack.core.groupcommit import batch_of
from dpistack.core.platform import Platform
from dpistack.core.timeutil import iso, utcnow
from dpistack.exchange.models import LogBatch, LogRecord
from dpistack.transparency import service as tlog

SIGNING_ALG = "EdDSA"


@dataclass(frozen=True)
class Record:
    request_id: str
    message_id: str
    at: datetime
    client: str
    service: str
    method: str
    request_hash: str
    response_hash: str
    status: int
    purpose: str | None = None
    consent_id: str | None = None
    legal_basis: str | None = None
    issue: str | None = None
    sealed_user: str | None = None

    def fields(self) -> dict[str, Any]:
        # not dataclasses.asdict: its deep copy was ~4 % of a mediated request's CPU (py-spy)
        return {name: getattr(self, name) for name in _FIELDS}

    def canonical(self) -> bytes:
        fields = self.fields()
        fields["at"] = iso(self.at)
        return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


_FIELDS = tuple(f.name for f in dataclasses.fields(Record))


def _signer(platform: Platform) -> tuple[str, Any]:
    signer = platform.extras.get("exchange_log_signer")
    if signer is None:
        info, key = platform.keys.active(SIGNING_ALG)
        signer = platform.extras["exchange_log_signer"] = (info.kid, key.private_key)
    return signer


_INSERT_RECORD = DriverQuery(insert(LogRecord.__table__).values(
    {c.name: bindparam(c.name) for c in LogRecord.__table__.columns}))
_INSERT_BATCH = DriverQuery(insert(LogBatch.__table__).values(
    {c.name: bindparam(c.name) for c in LogBatch.__table__.columns}))


def _write_all(session: Session, platform: Platform, records: list[Record]) -> None:
    digests = [hashlib.sha256(r.canonical()).digest() for r in records]
    root = hashlib.sha256(b"".join(digests)).digest()
    kid, key = _signer(platform)
    batch_id, now = secrets.randbits(62) + 1, utcnow()
    connection = session.connection()
    _INSERT_BATCH.many(connection, [{"id": batch_id, "root": root, "signature": key.sign(root), "kid": kid,
                                     "created_at": now}])
    _INSERT_RECORD.many(connection, [{**r.fields(), "batch_id": batch_id, "position": n, "digest": d}
                                     for n, (r, d) in enumerate(zip(records, digests))])


def write(session: Session, platform: Platform, record: Record, access: tlog.Prepared | None = None) -> None:
    """Log one exchange (and its transparency entry) in the caller's transaction."""
    batch = batch_of(session)
    if batch is not None:
        batch.defer("exchange-log", record, lambda records: _write_all(session, platform, records))
    else:
        _write_all(session, platform, [record])
    if access is not None:
        tlog.append(session, access)


def log_exchange(session: Session, platform: Platform, record: Record, access: tlog.Prepared | None) -> None:
    """The group-commit write of one exchange."""
    write(session, platform, record, access)


def records_of(session: Session, participant_id: str, limit: int = 100) -> list[dict]:
    """The newest records in which the participant is the client or the provider."""
    rows = session.scalars(select(LogRecord).where(or_(
        LogRecord.client.like(f"%/{participant_id}"), LogRecord.client.like(f"%/{participant_id}/%"),
        LogRecord.service.like(f"%/{participant_id}/%"))).order_by(LogRecord.at.desc()).limit(limit)).all()
    return [{"request_id": r.request_id, "message_id": r.message_id, "at": iso(r.at), "client": r.client,
             "service": r.service, "method": r.method, "status": r.status, "request_hash": r.request_hash,
             "response_hash": r.response_hash, "purpose": r.purpose, "consent_id": r.consent_id,
             "legal_basis": r.legal_basis, "issue": r.issue} for r in rows]


def check(platform: Platform) -> list[str]:
    """Every record's digest is the hash of its fields, and every batch's signature verifies over
    the hash of its records' digests in order with the key it names."""
    problems: list[str] = []
    keys = {k.kid: k for k in platform.keys.keys()}
    keyset = platform.keys.verification_keyset()
    with platform.db.uow() as session:
        for batch in session.scalars(select(LogBatch)):
            rows = session.scalars(select(LogRecord).where(LogRecord.batch_id == batch.id)
                                   .order_by(LogRecord.position)).all()
            digests = []
            for r in rows:
                record = Record(r.request_id, r.message_id, r.at, r.client, r.service, r.method, r.request_hash,
                                r.response_hash, r.status, r.purpose, r.consent_id, r.legal_basis, r.issue,
                                r.sealed_user)
                digest = hashlib.sha256(record.canonical()).digest()
                if digest != r.digest:
                    problems.append(f"message-log record {r.request_id}: its fields do not match its digest")
                digests.append(r.digest)
            if hashlib.sha256(b"".join(digests)).digest() != bytes(batch.root):
                problems.append(f"message-log batch {batch.id}: its records do not hash to its root")
            if batch.kid not in keys:
                problems.append(f"message-log batch {batch.id}: signed by unknown key {batch.kid}")
                continue
            try:
                keyset.get_by_kid(batch.kid).public_key.verify(bytes(batch.signature), bytes(batch.root))
            except Exception:  # noqa: BLE001 - InvalidSignature or a key of another type
                problems.append(f"message-log batch {batch.id}: the signature does not verify")
    return problems
