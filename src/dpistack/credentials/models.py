"""The credentials block's tables."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from dpistack.core.db import Base


class IssuerNonce(Base):
    """An OpenID4VCI ``c_nonce`` handed out and not used yet: the next proof of a holder's key
    must carry one, and each is taken once (deleted), within its lifetime, by any worker."""

    __tablename__ = "credentials_nonces"

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class CredentialOffer(Base):
    """A pre-authorized code offered to a wallet (OpenID4VCI 1.0 §4.1.1) with the claims the
    issuer agent's eKYC release gave. Only the code's SHA-256 is kept; the code is redeemed once,
    and the row (claims included) is swept once its access token can no longer be used.

    An offer may require a Transaction Code (``tx_code``): only its HMAC-SHA-256 keyed with the
    pre-authorized code is kept (so the database alone cannot be searched for a six-digit code),
    and each token request that compares one counts in ``tx_code_attempts`` (bounded)."""

    __tablename__ = "credentials_offers"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    agent_id: Mapped[str] = mapped_column(String(64))
    claims: Mapped[dict] = mapped_column(JSON)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    redeemed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    tx_code_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    tx_code_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class StatusList(Base):
    """A pair of Bitstring Status Lists (one for ``revocation``, one for ``suspension``) that
    share their index space; served at ``/credentials/status/{id}-{purpose}``."""

    __tablename__ = "credentials_status_lists"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class StatusEntry(Base):
    """The status of one issued credential: its index in a list pair and its two bits."""

    __tablename__ = "credentials_status_entries"
    __table_args__ = (UniqueConstraint("list_id", "list_index"),)

    credential_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    list_id: Mapped[str] = mapped_column(String(32), ForeignKey("credentials_status_lists.id"), index=True)
    list_index: Mapped[int] = mapped_column(Integer)
    agent_id: Mapped[str] = mapped_column(String(64))
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    suspended: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PresentationRequest(Base):
    """An OpenID4VP presentation request a relying party made through the platform's verifier
    (response mode ``direct_post``): its nonce, DCQL query and, once the wallet answered (once:
    that is what makes the nonce single-use), the outcome. Swept when it expires."""

    __tablename__ = "credentials_presentation_requests"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    relying_party: Mapped[str] = mapped_column(String(64))
    nonce: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(64))
    dcql_query: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))  # pending|answering|verified|refused
    result: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
