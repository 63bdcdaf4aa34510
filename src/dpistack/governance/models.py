"""Governance tables: participants and their keys, proposals and approvals, rights, policies."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from dpistack.core.db import Base
from dpistack.core.timeutil import utcnow


class Participant(Base):
    """An institution: ministry, agency, bank, wallet provider, relying party, hub, authority."""

    __tablename__ = "participants"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    roles: Mapped[list] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|active|suspended|rejected
    endpoints: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class ParticipantKey(Base):
    """A participant's public key (JWK). Only ``active`` keys authenticate or sign approvals."""

    __tablename__ = "participant_keys"

    kid: Mapped[str] = mapped_column(String(128), primary_key=True)
    participant_id: Mapped[str] = mapped_column(ForeignKey("participants.id"), index=True)
    jwk: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|active|revoked
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Proposal(Base):
    """A change to who may do what. It takes effect only once its required approvals are in."""

    __tablename__ = "proposals"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(48), index=True)
    payload: Mapped[dict] = mapped_column(JSON)
    digest: Mapped[str] = mapped_column(String(64))  # SHA-256 of the RFC 8785 form; what approvers sign
    proposer_id: Mapped[str] = mapped_column(ForeignKey("participants.id"))
    required: Mapped[list] = mapped_column(JSON)  # e.g. ["role:payments-regulator", "participant:moh"]
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)  # open|enacted|rejected
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Approval(Base):
    """One signed (JWS) decision on a proposal by an authority or a data owner."""

    __tablename__ = "approvals"
    __table_args__ = (UniqueConstraint("proposal_id", "approver_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    proposal_id: Mapped[str] = mapped_column(ForeignKey("proposals.id"), index=True)
    approver_id: Mapped[str] = mapped_column(ForeignKey("participants.id"))
    decision: Mapped[str] = mapped_column(String(8))  # approve|reject
    satisfies: Mapped[list] = mapped_column(JSON)  # which requirements this approval meets
    jws: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AccessGrant(Base):
    """A right granted by an enacted proposal: ``participant`` may ``action`` on ``category`` of ``owner``."""

    __tablename__ = "access_grants"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    participant_id: Mapped[str] = mapped_column(ForeignKey("participants.id"), index=True)
    action: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(64))
    owner_id: Mapped[str] = mapped_column(ForeignKey("participants.id"))
    status: Mapped[str] = mapped_column(String(16), default="active")  # active|revoked
    proposal_id: Mapped[str] = mapped_column(ForeignKey("proposals.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PolicyVersion(Base):
    """A version of the Cedar policy set. The newest one is in force."""

    __tablename__ = "policy_versions"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    text: Mapped[str] = mapped_column(Text)
    proposal_id: Mapped[str | None] = mapped_column(ForeignKey("proposals.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RulesVersion(Base):
    """A version of the governance rules: which approvals each kind of proposal needs."""

    __tablename__ = "governance_rules"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    rules: Mapped[dict] = mapped_column(JSON)
    proposal_id: Mapped[str | None] = mapped_column(ForeignKey("proposals.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class UsedAssertion(Base):
    """``jti`` of client assertions already used, kept until they expire (RFC 7523 §3 replay)."""

    __tablename__ = "used_assertions"

    jti: Mapped[str] = mapped_column(String(200), primary_key=True)
    participant_id: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class InstanceInfo(Base):
    """Facts fixed at ``dpi init`` (instance name, when it was created)."""

    __tablename__ = "instance_info"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class TrustedIssuer(Base):
    """An issuer of verifiable credentials this country's governance decided on (``issuer.trust``
    or ``issuer.distrust``): its keys, country and credential types. ``sequence`` is the trust
    list's sequence number after that decision (the newest decision has the largest)."""

    __tablename__ = "governance_trusted_issuers"

    iss: Mapped[str] = mapped_column(String(500), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    country: Mapped[str] = mapped_column(String(2))
    vcts: Mapped[list] = mapped_column(JSON)
    jwks: Mapped[dict] = mapped_column(JSON)
    valid_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    status: Mapped[str] = mapped_column(String(16))  # trusted|distrusted
    sequence: Mapped[int] = mapped_column(Integer, unique=True)
    proposal_id: Mapped[str] = mapped_column(ForeignKey("proposals.id"))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
