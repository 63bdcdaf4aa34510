"""Identity tables. Demographics are stored sealed: a JSON object of per-field AES-GCM
ciphertexts (see ``dpistack.core.crypto``); look-ups go through blind indexes only."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint, text
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
    # What a demographic authentication factor is checked against, as keyed digests of the
    # normalised names, birth date and sex (``auth_state.facts_of``; blind indexes, no plain
    # data): an authentication need not open the record. Null for people enrolled before it.
    auth_facts: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
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


FAILED_OUTCOMES = ("failure", "locked", "blocked")  # "blocked": a type the person locked; each counts to lockout


class AuthEvent(Base):
    """One authentication attempt: the person's authentication history and the lockout counter."""

    __tablename__ = "identity_auth_events"
    # The lockout check asks for a person's last success and their failures since: with the
    # outcome and time in the index both are a few index seeks, however long the history.
    __table_args__ = (Index("ix_identity_auth_events_subject_outcome_time", "subject", "outcome", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subject: Mapped[str] = mapped_column(String(32))  # blind index of the UIN
    partner_id: Mapped[str] = mapped_column(String(64))
    transaction_id: Mapped[str] = mapped_column(String(64))
    factors: Mapped[list] = mapped_column(JSON)
    outcome: Mapped[str] = mapped_column(String(16))  # "success" or one of FAILED_OUTCOMES
    purpose: Mapped[str | None] = mapped_column(String(200), nullable=True)  # authentication, ekyc, oidc login…
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


class OidcClient(Base):
    """An OpenID Connect client of a relying party (GovStack ``/client-mgmt/oidc-client``)."""

    __tablename__ = "identity_oidc_clients"

    client_id: Mapped[str] = mapped_column(String(50), primary_key=True)
    relying_party_id: Mapped[str] = mapped_column(ForeignKey("participants.id"), index=True)
    name: Mapped[str] = mapped_column(String(256))
    logo_uri: Mapped[str] = mapped_column(String(1024))
    redirect_uris: Mapped[list] = mapped_column(JSON)
    user_claims: Mapped[list] = mapped_column(JSON)
    acr_values: Mapped[list] = mapped_column(JSON)
    public_key: Mapped[dict] = mapped_column(JSON)  # JWK verifying the client's private_key_jwt; never changes
    status: Mapped[str] = mapped_column(String(16))  # active | inactive
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class OidcTransaction(Base):
    """One login: authorize request → authenticated → consent → code → tokens.

    The person's UIN is kept sealed; the authorization code only as a hash. Status moves
    login → authenticated → code_issued → token_issued (or denied / revoked).
    """

    __tablename__ = "identity_oidc_transactions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("identity_oidc_clients.client_id"))
    redirect_uri: Mapped[str] = mapped_column(String(1024))
    state: Mapped[str | None] = mapped_column(String(512), nullable=True)
    nonce: Mapped[str | None] = mapped_column(String(512), nullable=True)
    code_challenge: Mapped[str] = mapped_column(String(128))
    scope: Mapped[str] = mapped_column(String(512))
    essential_claims: Mapped[list] = mapped_column(JSON)
    voluntary_claims: Mapped[list] = mapped_column(JSON)
    id_token_claims: Mapped[list] = mapped_column(JSON)  # asked for in the ID token (claims parameter)
    claims_locales: Mapped[list] = mapped_column(JSON)
    acr: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), index=True)
    sealed_uin: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    accepted_claims: Mapped[list | None] = mapped_column(JSON, nullable=True)
    # OpenID4VCI: the credentials this login asks to be issued (scope or authorization_details),
    # their issuer and credential endpoint and the claims each needs; None for a plain login.
    credential_request: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    auth_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    code_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    code_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AuthLock(Base):
    """A person's lock on one authentication type (otp, demographics, biometrics) for relying parties."""

    __tablename__ = "identity_auth_locks"
    __table_args__ = (UniqueConstraint("subject", "auth_type"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subject: Mapped[str] = mapped_column(String(32), index=True)  # blind index of the UIN
    auth_type: Mapped[str] = mapped_column(String(16))
    locked: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ResidentSession(Base):
    """A person logged in to the residents' service; the UIN is kept sealed."""

    __tablename__ = "identity_resident_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    sealed_uin: Mapped[dict] = mapped_column(JSON)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ContactChange(Base):
    """A change of phone, e-mail or address, applied only once confirmed with an OTP."""

    __tablename__ = "identity_contact_changes"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    session_id: Mapped[str] = mapped_column(String(64), index=True)
    field: Mapped[str] = mapped_column(String(16))  # phone | email | address
    sealed_value: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))  # pending | applied
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
