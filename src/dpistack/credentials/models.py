"""The credentials block's tables."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from dpistack.core.db import Base


class IssuerNonce(Base):
    """An OpenID4VCI ``c_nonce`` handed out and not used yet: the next proof of a holder's key
    must carry one, and each is taken once (deleted), within its lifetime, by any worker."""

    __tablename__ = "credentials_nonces"

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
