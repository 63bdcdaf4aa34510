"""The credentials block's tables."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, String
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
    and the row (claims included) is swept once its access token can no longer be used."""

    __tablename__ = "credentials_offers"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    agent_id: Mapped[str] = mapped_column(String(64))
    claims: Mapped[dict] = mapped_column(JSON)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    redeemed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
