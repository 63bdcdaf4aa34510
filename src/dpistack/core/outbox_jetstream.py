"""The outbox's cluster option: NATS JetStream carries committed messages to whichever server
process has capacity to deliver them (``DPI_OUTBOX_URL=nats://host:4222``).

The database row stays the source of truth: it is written in the caller's transaction exactly
as without NATS, so a message exists exactly when the change that caused it does. After the
commit the writing process *publishes* the message to the stream (a work queue, kept on disk by
JetStream) and deletes the row once JetStream has acknowledged it. If the publish fails or the
process dies first, the row stays due and any process's sweeper publishes it later: delivery is
at least once, as without NATS (a message published but whose row outlived a crash is sent
twice; JetStream's de-duplication by message id is not used, because an operator's retry of a
dead letter must be published again under the same id).

Every server process pulls from one durable consumer shared by all of them, delivers over HTTP
(the outbox's own client), and acks on success or on a final refusal; a failed attempt is
nak'ed with the channel's backoff; after the channel's ``max_attempts`` the message becomes a
dead letter in the database (``outbox_messages``, status ``dead``, with ``on_dead`` called in
that transaction), where operators see and retry it as without NATS.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from typing import TYPE_CHECKING

import nats
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy, StorageType, StreamConfig
from sqlalchemy import delete
from sqlalchemy.orm import Session

from dpistack.core.timeutil import utcnow

if TYPE_CHECKING:
    from dpistack.core.outbox import Message, Outbox

log = logging.getLogger("dpistack.outbox")

CONSUMER = "senders"
FETCH = 256
ACK_WAIT = 60.0  # seconds JetStream waits for an ack before giving the message to another process


def encode(message: "Message") -> bytes:
    return json.dumps({"id": message.id, "channel": message.channel, "method": message.method, "url": message.url,
                       "headers": message.headers, "body": base64.b64encode(message.body).decode(),
                       "context": message.context}, separators=(",", ":")).encode()


def decode(data: bytes, attempts: int) -> "Message":
    from dpistack.core.outbox import Message

    d = json.loads(data)
    return Message(d["id"], d["channel"], d["method"], d["url"], d["headers"], base64.b64decode(d["body"]),
                   attempts, d.get("context"))


class JetStreamRelay:
    """Publishes an outbox's committed messages to a stream and delivers from it."""

    def __init__(self, outbox: "Outbox", url: str, stream: str):
        self.outbox, self.url, self.stream = outbox, url, stream
        self.subject_prefix = f"{stream}.outbox"
        self._nc = self._js = self._sub = None
        self._consumer: asyncio.Task | None = None
        self.published = 0

    async def start(self, *, consume: bool = True) -> None:
        self._nc = await nats.connect(self.url, name="dpistack-outbox", max_reconnect_attempts=-1,
                                      connect_timeout=5)
        self._js = self._nc.jetstream()
        config = StreamConfig(name=self.stream, subjects=[f"{self.subject_prefix}.>"],
                              retention=RetentionPolicy.WORK_QUEUE, storage=StorageType.FILE,
                              duplicate_window=120.0)
        try:
            await self._js.add_stream(config)
        except nats.js.errors.BadRequestError:
            await self._js.update_stream(config)  # it exists (another process made it)
        if consume:
            self._sub = await self._js.pull_subscribe(
                f"{self.subject_prefix}.>", durable=CONSUMER, stream=self.stream,
                config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=ACK_WAIT, max_deliver=-1,
                                      max_ack_pending=4096))
            self._consumer = asyncio.get_running_loop().create_task(self._consume_forever())

    async def stop(self) -> None:
        if self._consumer is not None:
            self._consumer.cancel()
            await asyncio.gather(self._consumer, return_exceptions=True)
            self._consumer = None
        if self._nc is not None:
            await self._nc.close()  # unacknowledged messages go to another process after their ack wait
            self._nc = self._js = self._sub = None

    # -- publishing --------------------------------------------------------------------------
    async def publish(self, messages: list["Message"]) -> None:
        """Hand ``messages`` (committed) to the stream, then delete their rows. A message JetStream
        did not acknowledge keeps its row: a sweeper publishes it again after its lease."""
        published: list[int] = []
        for message in messages:
            try:
                await self._js.publish(f"{self.subject_prefix}.{message.channel}", encode(message), timeout=5)
                published.append(message.id)
            except Exception as exc:  # noqa: BLE001 - NATS away: the row stays, swept later
                log.warning("outbox: JetStream did not take message %s: %s", message.id, exc)
        self.published += len(published)
        if published:
            try:
                await self.outbox._platform.group_commit.run_async(_forget, published)
            except Exception:  # noqa: BLE001 - the row is swept and published again: JetStream drops the duplicate
                log.exception("outbox: could not delete published messages")

    # -- delivering --------------------------------------------------------------------------
    async def _consume_forever(self) -> None:
        while True:
            try:
                batch = await self._sub.fetch(FETCH, timeout=1)
            except (NatsTimeout, asyncio.TimeoutError):
                continue
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - reconnecting
                log.exception("outbox: JetStream fetch failed")
                await asyncio.sleep(1)
                continue
            await asyncio.gather(*(self._handle(m) for m in batch))

    async def _handle(self, msg) -> None:
        message = decode(msg.data, msg.metadata.num_delivered - 1)
        channel = self.outbox.channel(message.channel)
        error, final = await self.outbox.attempt(message)
        if error is None:
            await msg.ack()
            return
        attempts = message.attempts + 1
        log.info("outbox %s message %s to %s failed (attempt %d): %s", message.channel, message.id, message.url,
                 attempts, error)
        if final or attempts >= channel.max_attempts:
            try:
                await self.outbox._platform.group_commit.run_async(_bury, self.outbox, message, attempts, error)
            except Exception:  # noqa: BLE001 - not recorded: JetStream gives it again after its ack wait
                log.exception("outbox: could not record dead letter %s", message.id)
                return
            await msg.term()
            return
        await msg.nak(delay=channel.delay(attempts))


def _forget(session: Session, _platform, ids: list[int]) -> None:
    from dpistack.core.outbox import OutboxMessage

    table = OutboxMessage.__table__
    session.execute(delete(table).where(table.c.id.in_(ids), table.c.status == "pending"))


def _bury(session: Session, platform, outbox: "Outbox", message: "Message", attempts: int, error: str) -> None:
    """The message as a dead letter in the database, where operators see and retry it."""
    from dpistack.core.outbox import OutboxMessage

    table = OutboxMessage.__table__
    now = utcnow()
    session.execute(delete(table).where(table.c.id == message.id))  # a row swept again meanwhile: this replaces it
    session.execute(table.insert().values(
        id=message.id, channel=message.channel, method=message.method, url=message.url, headers=message.headers,
        body=message.body, status="dead", attempts=attempts, next_attempt_at=now, last_error=error,
        context=message.context, created_at=now))
    handler = outbox.channel(message.channel).on_dead
    if handler is not None:
        handler(session, platform, message, error)
