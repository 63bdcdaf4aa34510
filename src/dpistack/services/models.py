"""The catalogue of public services: one row per service, its texts in each language."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from dpistack.core.db import Base


class PublicService(Base):
    """A public service as its institution publishes it. ``texts`` maps a language (en fr es
    pt ar) to ``{name, description, eligibility, steps: [..], keywords: [..]}``."""

    __tablename__ = "services_catalogue"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    publisher: Mapped[str] = mapped_column(String(64), index=True)  # the institution's participant id
    category: Mapped[str] = mapped_column(String(32), index=True)
    texts: Mapped[dict] = mapped_column(JSON)
    revision: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
