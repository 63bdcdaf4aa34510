"""Consent tables: each artefact's current state, and every revision of it (signed, hash-chained)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from dpistack.core.db import Base


class ConsentArtefact(Base):
    """The current state of one consent: what a check reads."""

    __tablename__ = "consent_artefacts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    status: Mapped[str] = mapped_column(String(10))  # REQUESTED ACTIVE REJECTED REVOKED EXPIRED
    principal: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)  # the person's pseudonym
    consumer: Mapped[str] = mapped_column(String(64), index=True)
    provider: Mapped[str] = mapped_column(String(64), index=True)
    valid_from: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    valid_to: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revision: Mapped[int] = mapped_column(Integer)
    head_hash: Mapped[str] = mapped_column(String(64))  # SHA-256 (hex) of the newest revision's artefact bytes
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ConsentRevision(Base):
    """One revision: the artefact's exact bytes (RFC 8785 JSON, naming the previous revision's
    hash) and the platform's detached JWS over them."""

    __tablename__ = "consent_revisions"

    consent_id: Mapped[str] = mapped_column(String(36), ForeignKey("consent_artefacts.id"), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    artefact: Mapped[bytes] = mapped_column(LargeBinary)
    jws: Mapped[str] = mapped_column(Text)
    hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ConsentUse(Base):
    """One exchange allowed under a consent: what its frequency and fetch type are counted on."""

    __tablename__ = "consent_uses"
    __table_args__ = (Index("ix_consent_uses_consent_at", "consent_id", "at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    consent_id: Mapped[str] = mapped_column(String(36), ForeignKey("consent_artefacts.id"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
