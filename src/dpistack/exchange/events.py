"""Publish/subscribe between members, in the GovStack Information Mediator PubSub shape.

A *room* is a subsystem of its owner (``/r1/{instance}/{class}/{member}/{room}/…``). The owner
manages its event types (``api/v1/eventType``) and publishes (``pub/v1/{eventType}``);
members whom governance granted ``data:read`` on ``<room>-events@<owner>`` subscribe
(``api/v1/subs/{eventType}``), by PUSH to their URL (``pushUrl``, this platform's addition
to the subscription item) or by PULL (``pull/v1/{eventType}``, acknowledged by DELETE).

Delivery is at least once. By default events live in the platform database: a publication
writes the event, one delivery row per subscription and, for PUSH, one message of the core
outbox — all in one transaction — and the outbox delivers with retries and exponential
backoff until the receiver answers 2xx, or buries the message as a dead letter (the
delivery row says ``dead``, with the last error). With ``DPI_EVENTS_URL=nats://…`` the
events go to a NATS JetStream stream instead (``exchange.nats``), and each PUSH subscription
is a durable JetStream consumer with the same retries and dead letters.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dpistack.core.crypto import FieldCipher
from dpistack.core.errors import Conflict, NotFound, Problem
from dpistack.core.outbox import Channel, Message
from dpistack.core.platform import Platform
from dpistack.core.timeutil import iso, utcnow
from dpistack.exchange.models import Delivery, Event, Room, Subscription

CHANNEL = "exchange-events"
MAX_ATTEMPTS = 8
EVENT_TYPE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
PUBSUB_CODES = ("api", "pub", "pull")  # reserved service codes: a room's PubSub API


class PubSubError(Problem):
    pass


def category(room: str) -> str:
    """The data category whose ``data:read`` grant lets a member subscribe to a room."""
    return f"{room.lower()}-events"


def _delivered(session: Session, _platform: Platform, message: Message) -> None:
    _mark(session, message, "delivered", None)


def _dead(session: Session, _platform: Platform, message: Message, error: str) -> None:
    _mark(session, message, "dead", error)


def _mark(session: Session, message: Message, status: str, error: str | None) -> None:
    context = message.context or {}
    row = session.get(Delivery, (context.get("event_id"), context.get("subscription_id")))
    if row is not None and row.status == "pending":
        row.status, row.last_error, row.updated_at = status, error, utcnow()


def register_channel(platform: Platform) -> None:
    platform.outbox.register(Channel(CHANNEL, max_attempts=MAX_ATTEMPTS, timeout=10.0, backoff=0.5,
                                     on_dead=_dead, on_delivered=_delivered))


def room_id(owner: str, subsystem: str) -> str:
    return f"{owner}/{subsystem}"


def _room(session: Session, owner: str, subsystem: str, create: bool = False) -> Room:
    row = session.get(Room, room_id(owner, subsystem))
    if row is None:
        if not create:
            raise NotFound(f"No room {subsystem} of {owner}.")
        row = Room(id=room_id(owner, subsystem), owner=owner, event_types={}, created_at=utcnow())
        session.add(row)
    return row


def create_event_type(session: Session, owner: str, subsystem: str, event_type: str, schema: Any) -> None:
    if not EVENT_TYPE.match(event_type or ""):
        raise PubSubError("eventType must be 1-64 letters, digits, '.', '_' or '-'.", status=400)
    if not isinstance(schema, dict):
        raise PubSubError("schema must be a JSON schema (an object).", status=400)
    room = _room(session, owner, subsystem, create=True)
    if event_type in room.event_types:
        raise Conflict(f"Event type {event_type} already exists in room {subsystem}.")
    room.event_types = {**room.event_types, event_type: schema}


def event_types(session: Session, owner: str, subsystem: str) -> dict[str, Any]:
    row = session.get(Room, room_id(owner, subsystem))
    return dict(row.event_types) if row is not None else {}


def delete_event_type(session: Session, owner: str, subsystem: str, event_type: str) -> None:
    room = _room(session, owner, subsystem)
    if event_type not in room.event_types:
        raise NotFound(f"No event type {event_type} in room {subsystem}.")
    room.event_types = {k: v for k, v in room.event_types.items() if k != event_type}


def subscribe(session: Session, owner: str, subsystem: str, event_type: str, subscriber: str, client: str,
              delivery: str, push_url: str | None) -> Subscription:
    room = _room(session, owner, subsystem)
    if event_type not in room.event_types:
        raise NotFound(f"No event type {event_type} in room {subsystem}.")
    if delivery not in ("PUSH", "PULL"):
        raise PubSubError("delivery must be PUSH or PULL.", status=400)
    if delivery == "PUSH" and not (isinstance(push_url, str) and re.match(r"^https?://[^\s/@]+(/\S*)?$", push_url)):
        raise PubSubError("A PUSH subscription needs pushUrl, an http(s) URL.", status=400)
    existing = session.scalar(select(Subscription).where(
        Subscription.room_id == room.id, Subscription.event_type == event_type,
        Subscription.subscriber_client == client, Subscription.status == "active"))
    if existing is not None:
        raise Conflict(f"{client} already subscribes to {event_type} in room {subsystem}.")
    row = Subscription(id=str(uuid.uuid4()), room_id=room.id, event_type=event_type, subscriber=subscriber,
                       subscriber_client=client, delivery=delivery, push_url=push_url if delivery == "PUSH" else None,
                       status="active", created_at=utcnow())
    session.add(row)
    return row


def _mine(session: Session, owner: str, subsystem: str, client: str, event_type: str | None = None) -> list:
    query = select(Subscription).where(Subscription.room_id == room_id(owner, subsystem),
                                       Subscription.subscriber_client == client, Subscription.status == "active")
    if event_type is not None:
        query = query.where(Subscription.event_type == event_type)
    return list(session.scalars(query))


def subscription_view(row: Subscription) -> dict:
    return {"id": row.id, "eventType": row.event_type, "delivery": row.delivery, "pushUrl": row.push_url,
            "subscriberId": row.subscriber_client}


def my_subscriptions(session: Session, owner: str, subsystem: str, client: str) -> list[dict]:
    return [subscription_view(r) for r in _mine(session, owner, subsystem, client)]


def get_subscription(session: Session, owner: str, subsystem: str, client: str, event_type: str) -> Subscription:
    rows = _mine(session, owner, subsystem, client, event_type)
    if not rows:
        raise NotFound(f"No subscription of {client} to {event_type} in room {subsystem}.")
    return rows[0]


def cancel(session: Session, owner: str, subsystem: str, client: str, event_type: str) -> None:
    get_subscription(session, owner, subsystem, client, event_type).status = "cancelled"


def cipher(platform: Platform) -> FieldCipher:
    """Events carry personal data (a birth, a death): their bodies are sealed at rest."""
    sealed = platform.extras.get("exchange_event_cipher")
    if sealed is None:
        sealed = platform.extras["exchange_event_cipher"] = FieldCipher(
            platform.keys.derived_secret("exchange:events"))
    return sealed


def event_item(event: Event, publisher_client: str, sealer: FieldCipher) -> dict:
    return {"id": event.id, "publisherId": publisher_client, "eventType": event.event_type,
            "publishedAt": iso(event.created_at),
            "event": sealer.decrypt(event.body.decode(), record=event.id, field="event")}


def publish(session: Session, platform: Platform, owner: str, subsystem: str, event_type: str, event: Any,
            publisher_client: str, backend: Any = None) -> tuple[str, list[tuple[Subscription, dict]]]:
    """Record the event and its deliveries in the caller's transaction. With the database
    backend the PUSH deliveries are outbox messages of this transaction; another backend
    (NATS) is handed the event after the commit by the caller. Returns the event id and the
    subscriptions to deliver to."""
    room = _room(session, owner, subsystem)
    if event_type not in room.event_types:
        raise NotFound(f"No event type {event_type} in room {subsystem}.")
    event_id, sealer = str(uuid.uuid4()), cipher(platform)
    row = Event(id=event_id, room_id=room.id, event_type=event_type, publisher=owner,
                body=sealer.encrypt(event, record=event_id, field="event").encode(), created_at=utcnow())
    session.add(row)
    item = event_item(row, publisher_client, sealer)
    body = json.dumps(item, separators=(",", ":"), ensure_ascii=False).encode()
    targets = []
    now = utcnow()
    for sub in session.scalars(select(Subscription).where(Subscription.room_id == room.id,
                                                          Subscription.event_type == event_type,
                                                          Subscription.status == "active")):
        session.add(Delivery(event_id=row.id, subscription_id=sub.id, status="pending", last_error=None,
                             created_at=now, updated_at=now))
        targets.append((sub, item))
        if sub.delivery == "PUSH" and backend is None:
            platform.outbox.enqueue(session, CHANNEL, "POST", sub.push_url, {
                "Content-Type": "application/json", "X-Road-Client": publisher_client,
                "X-GovStack-Event-Id": row.id, "X-GovStack-Subscription": sub.id}, body,
                context={"event_id": row.id, "subscription_id": sub.id})
    session.flush()
    return row.id, targets


def status(session: Session, owner: str, subsystem: str, event_type: str, event_id: str,
           publisher_client: str, sealer: FieldCipher) -> dict:
    row = session.get(Event, event_id)
    if row is None or row.room_id != room_id(owner, subsystem) or row.event_type != event_type:
        raise NotFound(f"No event {event_id} of type {event_type} in room {subsystem}.")
    deliveries = session.scalars(select(Delivery).where(Delivery.event_id == event_id)).all()
    return {**event_item(row, publisher_client, sealer),
            "deliveries": [{"subscriptionId": d.subscription_id, "status": d.status, "lastError": d.last_error}
                           for d in deliveries]}


def stop(session: Session, owner: str, subsystem: str, event_type: str, event_id: str) -> None:
    """DELETE pub/v1/{eventType}/{eventId}: what has not been delivered yet will not be."""
    row = session.get(Event, event_id)
    if row is None or row.room_id != room_id(owner, subsystem) or row.event_type != event_type:
        raise NotFound(f"No event {event_id} of type {event_type} in room {subsystem}.")
    from dpistack.core.outbox import OutboxMessage
    for d in session.scalars(select(Delivery).where(Delivery.event_id == event_id, Delivery.status == "pending")):
        d.status, d.last_error, d.updated_at = "stopped", "publication stopped by the publisher", utcnow()
    for m in session.scalars(select(OutboxMessage).where(OutboxMessage.channel == CHANNEL,
                                                         OutboxMessage.status == "pending")):
        if (m.context or {}).get("event_id") == event_id:
            session.delete(m)


def pull(session: Session, owner: str, subsystem: str, client: str, event_type: str,
         publisher_client: str, sealer: FieldCipher) -> dict | None:
    sub = get_subscription(session, owner, subsystem, client, event_type)
    if sub.delivery != "PULL":
        raise Conflict("This subscription is PUSH; events are sent to its pushUrl.")
    delivery = session.scalar(select(Delivery).where(Delivery.subscription_id == sub.id,
                                                     Delivery.status == "pending")
                              .order_by(Delivery.created_at, Delivery.event_id).limit(1))
    if delivery is None:
        return None
    return event_item(session.get(Event, delivery.event_id), publisher_client, sealer)


def acknowledge(session: Session, owner: str, subsystem: str, client: str, event_type: str, event_id: str) -> None:
    sub = get_subscription(session, owner, subsystem, client, event_type)
    delivery = session.get(Delivery, (event_id, sub.id))
    if delivery is None or delivery.status != "pending":
        raise NotFound(f"No unacknowledged event {event_id}.")
    delivery.status, delivery.updated_at = "delivered", utcnow()


def record_outcome(session: Session, _platform: Any, event_id: str, subscription_id: str, status_: str,
                   error: str | None) -> None:
    """Another backend's delivery outcome (NATS), written through the group commit."""
    row = session.get(Delivery, (event_id, subscription_id))
    if row is not None and row.status == "pending":
        row.status, row.last_error, row.updated_at = status_, error, utcnow()
