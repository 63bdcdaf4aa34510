"""Exchange tables: members' subsystems, the service catalogue, the signed message log, and
the event rooms, subscriptions and deliveries of publish/subscribe."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from dpistack.core.db import Base


class Subsystem(Base):
    """A subsystem of a member (an information system of the institution), X-Road's unit of
    client and provider."""

    __tablename__ = "exchange_subsystems"

    member_id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the participant
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Service(Base):
    """A REST service a provider publishes: where the mediator sends the calls, its OpenAPI
    description, the data category whose ``data:read`` grant a caller needs, and whether it
    carries personal data (then each call needs a consent or a legal basis)."""

    __tablename__ = "exchange_services"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)  # <member>/<subsystem>/<service code>
    provider: Mapped[str] = mapped_column(String(64), index=True)
    subsystem: Mapped[str] = mapped_column(String(64))
    code: Mapped[str] = mapped_column(String(64))
    backend_url: Mapped[str] = mapped_column(String(2048))
    openapi: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    category: Mapped[str] = mapped_column(String(64))
    personal_data: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(10))  # active | withdrawn
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class LogBatch(Base):
    """The signature of one group of message-log records: Ed25519 by the platform over the
    SHA-256 of their record digests in order (X-Road's batch signatures, on a flat list)."""

    __tablename__ = "exchange_log_batches"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=False)
    root: Mapped[bytes] = mapped_column(LargeBinary(32))
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))
    kid: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class LogRecord(Base):
    """One exchange: who asked which service, when, for what, under which consent or legal
    basis, the hashes of request and response, and the outcome. ``digest`` is the SHA-256 of
    the record's canonical form, signed through its batch. X-Road-UserId is sealed."""

    __tablename__ = "exchange_message_log"

    request_id: Mapped[str] = mapped_column(String(36), primary_key=True)  # X-Road-Request-Id
    message_id: Mapped[str] = mapped_column(String(200))  # X-Road-Id
    batch_id: Mapped[int] = mapped_column(ForeignKey("exchange_log_batches.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    client: Mapped[str] = mapped_column(String(300))
    service: Mapped[str] = mapped_column(String(300))
    method: Mapped[str] = mapped_column(String(10))
    request_hash: Mapped[str] = mapped_column(String(88))
    response_hash: Mapped[str] = mapped_column(String(88))
    status: Mapped[int] = mapped_column(Integer)
    purpose: Mapped[str | None] = mapped_column(String(500), nullable=True)
    consent_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    legal_basis: Mapped[str | None] = mapped_column(String(200), nullable=True)
    issue: Mapped[str | None] = mapped_column(String(200), nullable=True)
    sealed_user: Mapped[str | None] = mapped_column(Text, nullable=True)
    digest: Mapped[bytes] = mapped_column(LargeBinary(32))


class Room(Base):
    """A pub/sub room (GovStack IM PubSub): a subsystem of its owner, with its event types."""

    __tablename__ = "exchange_rooms"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64))
    event_types: Mapped[dict] = mapped_column(JSON)  # {eventType: JSON schema}
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Subscription(Base):
    """A member's subscription to one event type of a room: pushed to its URL, or pulled."""

    __tablename__ = "exchange_subscriptions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    room_id: Mapped[str] = mapped_column(ForeignKey("exchange_rooms.id"), index=True)
    event_type: Mapped[str] = mapped_column(String(64))
    subscriber: Mapped[str] = mapped_column(String(64))  # the participant
    subscriber_client: Mapped[str] = mapped_column(String(300))  # its X-Road client id
    delivery: Mapped[str] = mapped_column(String(4))  # PUSH | PULL
    push_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    status: Mapped[str] = mapped_column(String(10))  # active | cancelled
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Event(Base):
    __tablename__ = "exchange_events"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    room_id: Mapped[str] = mapped_column(ForeignKey("exchange_rooms.id"), index=True)
    event_type: Mapped[str] = mapped_column(String(64))
    publisher: Mapped[str] = mapped_column(String(64))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Delivery(Base):
    """What became of one event for one subscription: delivered, or dead after its retries."""

    __tablename__ = "exchange_deliveries"
    __table_args__ = (Index("ix_exchange_deliveries_pull", "subscription_id", "status", "created_at"),)

    event_id: Mapped[str] = mapped_column(ForeignKey("exchange_events.id"), primary_key=True)
    subscription_id: Mapped[str] = mapped_column(ForeignKey("exchange_subscriptions.id"), primary_key=True)
    status: Mapped[str] = mapped_column(String(10))  # pending | delivered | dead
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
