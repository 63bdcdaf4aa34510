"""Identity tables. Demographics are stored sealed: a JSON object of per-field AES-GCM
ciphertexts (see ``dpistack.core.crypto``); look-ups go through blind indexes only."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from dpistack.core.db import Base
from dpistack.core.timeutil import utcnow


class Enrolment(Base):
    """A registration request. Its status moves pending → issued | duplicate | review | rejected."""

    __tablename__ = "identity_enrolments"
    __table_args__ = (UniqueConstraint("submitted_by", "request_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    submitted_by: Mapped[str] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(100), nullable=True)  # the client's idempotency key
    request_digest: Mapped[str] = mapped_column(String(64))  # keyed hash of the request: same id, same body?
    status: Mapped[str] = mapped_column(String(16), index=True)
    demographics: Mapped[dict] = mapped_column(JSON)  # sealed per field
    uin: Mapped[str | None] = mapped_column(String(32), nullable=True)
    duplicate_of: Mapped[str | None] = mapped_column(String(32), nullable=True)
    candidates: Mapped[list] = mapped_column(JSON, default=list)  # [{uin, score}] for the operator
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(64), nullable=True)


class Person(Base):
    """An enrolled person, identified by a UIN that is never reused."""

    __tablename__ = "identity_persons"

    uin: Mapped[str] = mapped_column(String(32), primary_key=True)
    enrolment_id: Mapped[str] = mapped_column(ForeignKey("identity_enrolments.id"))
    demographics: Mapped[dict] = mapped_column(JSON)  # sealed per field
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class BlockingKey(Base):
    """Blind-indexed deduplication blocking keys: who to compare a new enrolment with."""

    __tablename__ = "identity_blocking_keys"
    __table_args__ = (UniqueConstraint("key", "uin"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(32), index=True)
    uin: Mapped[str] = mapped_column(ForeignKey("identity_persons.uin"))


class OneTimePassword(Base):
    """An OTP sent for one authentication transaction of one relying party.

    Only a keyed hash of the code is stored; it expires, is single-use, and is burned after a
    few wrong tries.
    """

    __tablename__ = "identity_otps"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    subject: Mapped[str] = mapped_column(String(32), index=True)  # blind index of the UIN
    partner_id: Mapped[str] = mapped_column(String(64))
    transaction_id: Mapped[str] = mapped_column(String(64))
    code_hash: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AuthEvent(Base):
    """One authentication attempt: the person's authentication history and the lockout counter."""

    __tablename__ = "identity_auth_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subject: Mapped[str] = mapped_column(String(32), index=True)  # blind index of the UIN
    partner_id: Mapped[str] = mapped_column(String(64))
    transaction_id: Mapped[str] = mapped_column(String(64))
    factors: Mapped[list] = mapped_column(JSON)
    outcome: Mapped[str] = mapped_column(String(16))  # success | failure | locked
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class VirtualId(Base):
    """A revocable alias of a UIN (MOSIP VID): 16 digits, of one type, perhaps expiring.

    At most one active VID per person and type: a partial unique index, so that two
    simultaneous requests cannot both create one.
    """

    __tablename__ = "identity_vids"
    __table_args__ = (
        Index("uq_identity_vids_one_active", "uin", "vid_type", unique=True,
              sqlite_where=text("status = 'active'"), postgresql_where=text("status = 'active'")),
    )

    vid: Mapped[str] = mapped_column(String(32), primary_key=True)
    uin: Mapped[str] = mapped_column(ForeignKey("identity_persons.uin"), index=True)
    vid_type: Mapped[str] = mapped_column(String(16))  # perpetual | temporary
    status: Mapped[str] = mapped_column(String(16))  # active | revoked | used
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    transactions_left: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: unlimited
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
