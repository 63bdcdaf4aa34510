"""The catalogue of public services (one row per service, its texts in each language and the
fields of its online form) and the applications people send through those forms."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from dpistack.core.db import Base


class PublicService(Base):
    """A public service as its institution publishes it. ``texts`` maps a language (en fr es
    pt ar) to ``{name, description, eligibility, steps: [..], keywords: [..]}``; ``form`` (or
    None: no online form) says which fields its application form has and where each can be
    prefilled from (``schemas.ServiceForm``)."""

    __tablename__ = "services_catalogue"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    publisher: Mapped[str] = mapped_column(String(64), index=True)  # the institution's participant id
    category: Mapped[str] = mapped_column(String(32), index=True)
    texts: Mapped[dict] = mapped_column(JSON)
    form: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    revision: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Application(Base):
    """One application sent through a service's form, kept for the institution that publishes
    the service. The answers are sealed (AES-GCM); the person is named by their transparency
    pseudonym, never by the UIN. ``request_id`` makes a resent form a no-op."""

    __tablename__ = "services_applications"
    __table_args__ = (UniqueConstraint("submitted_by", "request_id"),)

    reference: Mapped[str] = mapped_column(String(32), primary_key=True)  # shown to the person
    service_id: Mapped[str] = mapped_column(String(64), index=True)
    publisher: Mapped[str] = mapped_column(String(64), index=True)
    subject: Mapped[str] = mapped_column(String(64), index=True)  # the person's pseudonym
    answers: Mapped[str] = mapped_column(String)  # sealed JSON {field: value}
    sources: Mapped[dict] = mapped_column(JSON)  # {field: source} of the answers that were prefilled
    lang: Mapped[str] = mapped_column(String(8))
    submitted_by: Mapped[str] = mapped_column(String(64))  # the participant that sent it (the portal)
    request_id: Mapped[str] = mapped_column(String(64))
    form_revision: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
