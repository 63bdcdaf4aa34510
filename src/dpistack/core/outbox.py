"""A durable outbox: messages to other systems (FSPIOP callbacks, event deliveries) written in
the caller's transaction and delivered over HTTP once it has committed, with retries,
exponential backoff and dead letters.

How a message travels:

1. ``enqueue(session, …)`` writes the row in the caller's transaction (in a group commit, with
   the batch's other rows in one statement), so a message exists exactly when the change that
   caused it does. Nothing is sent before the commit.
2. After the commit, the process that wrote it sends it at once from its event loop (no
   re-read of the row). The row was written due one *lease* later, so no other process's
   sweeper sends it meanwhile.
3. A delivered message is deleted; a failed attempt is recorded with the next attempt's time
   (exponential backoff with jitter); after ``max_attempts`` it is a dead letter, kept with its
   last error until an operator retries it. A 4xx answer other than 408/429 is final at once:
   sending the same bytes again cannot change it. Outcomes are written in batches through the
   group commit.
4. Every server process sweeps for due messages (a crashed process's, retries) and claims them
   for one lease before sending (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so several
   processes and hosts share the work. Delivery is at least once: a receiver may see a message
   twice after a crash, never zero times.

With ``DPI_OUTBOX_URL=nats://…`` step 2 hands the message to NATS JetStream instead, and every
process delivers from one shared consumer (``core/outbox_jetstream.py``): the cluster option.

The ledger never waits for a callback: the answer to the request that caused the message is
sent when the row has committed, whatever the receiver does.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Callable

import aiohttp
from sqlalchemy import JSON, BigInteger, DateTime, Index, Integer, LargeBinary, String, Text, bindparam, delete, \
    event, func, insert, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from dpistack.core.db import Base, DriverQuery
from dpistack.core.groupcommit import batch_of
from dpistack.core.outbox_jetstream import JetStreamRelay
from dpistack.core.timeutil import iso, utcnow

if TYPE_CHECKING:
    from dpistack.core.platform import Platform

log = logging.getLogger("dpistack.outbox")

LEASE = timedelta(seconds=10)  # how long a sender owns a message before a sweeper may take it
SWEEP_SECONDS = 1.0
SWEEP_BATCH = 500
MAX_IN_FLIGHT = 512
RECORD_SECONDS = 0.05  # outcomes are written at most this often (one transaction for all of them)


class OutboxMessage(Base):
    __tablename__ = "outbox_messages"
    __table_args__ = (Index("ix_outbox_messages_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=False)
    channel: Mapped[str] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(8))
    url: Mapped[str] = mapped_column(String(2048))
    headers: Mapped[dict] = mapped_column(JSON)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(8), default="pending")  # pending | dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    context: Mapped[dict | None] = mapped_column(JSON, nullable=True)  # the sender's facts, for its on_dead
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


@dataclass(frozen=True)
class Message:
    id: int
    channel: str
    method: str
    url: str
    headers: dict[str, str]
    body: bytes
    attempts: int = 0
    context: dict | None = None  # what the block that wrote it needs to know if it dies


DeadHandler = Callable[[Session, "Platform", Message, str], None]
DeliveredHandler = Callable[[Session, "Platform", Message], None]


@dataclass(frozen=True)
class Channel:
    """How one kind of message is delivered: attempts, timeout, backoff, what to do when it dies
    (``on_dead(session, platform, message, error)``, in the transaction that marks it dead) and
    when it has been delivered (``on_delivered(session, platform, message)``, in the transaction
    that deletes it)."""

    name: str
    max_attempts: int = 8
    timeout: float = 5.0
    backoff: float = 0.5  # seconds before the 2nd attempt; doubles each time
    max_backoff: float = 300.0
    on_dead: DeadHandler | None = None
    on_delivered: DeliveredHandler | None = None

    def delay(self, attempts: int) -> float:
        base = min(self.max_backoff, self.backoff * 2 ** max(0, attempts - 1))
        return base * random.uniform(0.8, 1.2)  # jitter: retries of one burst do not arrive together


_INSERT = DriverQuery(insert(OutboxMessage.__table__).values({c: bindparam(c) for c in (
    "id", "channel", "method", "url", "headers", "body", "status", "attempts", "next_attempt_at", "context",
    "created_at")}))


def _rows(messages: list[Message], now: datetime) -> list[dict[str, Any]]:
    due = now + LEASE
    return [{"id": m.id, "channel": m.channel, "method": m.method, "url": m.url, "headers": m.headers,
             "body": m.body, "status": "pending", "attempts": 0, "next_attempt_at": due, "context": m.context,
             "created_at": now}
            for m in messages]


@dataclass
class _Outcomes:
    delivered: list[Message] = field(default_factory=list)
    failed: list[tuple[Message, str, bool]] = field(default_factory=list)  # (message, error, final)


class Outbox:
    """The outbox of one platform instance (``platform.outbox``)."""

    def __init__(self, platform: "Platform"):
        self._platform = platform
        self._channels: dict[str, Channel] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: aiohttp.ClientSession | None = None
        self._slots: asyncio.Semaphore | None = None
        self._outcomes = _Outcomes()
        self._recording: asyncio.TimerHandle | None = None
        self._sweeper: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()
        self._lock = threading.Lock()
        self.relay: JetStreamRelay | None = None  # DPI_OUTBOX_URL: committed messages go through JetStream
        self._relay_ready: asyncio.Event | None = None
        self.sent = 0  # attempts made by this process (for tests and metrics)

    # -- channels ---------------------------------------------------------------------------
    def register(self, channel: Channel) -> None:
        self._channels[channel.name] = channel

    def channel(self, name: str) -> Channel:
        return self._channels.get(name) or Channel(name)

    # -- writing ----------------------------------------------------------------------------
    def enqueue(self, session: Session, channel: str, method: str, url: str, headers: dict[str, str],
                body: bytes = b"", context: dict | None = None) -> Message:
        """Add a message in ``session``'s transaction; it is sent once that commits."""
        message = Message(secrets.randbits(62) + 1, channel, method.upper(), url, dict(headers), body, 0, context)
        batch = batch_of(session)
        if batch is not None:
            batch.defer("outbox", message, lambda messages: self._write(session, messages))
        else:
            self._write(session, [message])
        pending = session.info.get("outbox")
        if pending is None:
            pending = session.info["outbox"] = []
            event.listen(session, "after_commit", self._committed, once=True)
        pending.append(message)
        return message

    @staticmethod
    def _write(session: Session, messages: list[Message]) -> None:
        _INSERT.many(session.connection(), _rows(messages, utcnow()))

    def _committed(self, session: Session) -> None:
        messages = session.info.pop("outbox", [])
        loop = self._loop
        if not messages or loop is None or loop.is_closed():
            return  # no server loop in this process: a sweeper delivers them when one runs
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._send_all(messages)
        else:
            loop.call_soon_threadsafe(self._send_all, messages)

    # -- the server process's side ----------------------------------------------------------
    def start(self, loop: asyncio.AbstractEventLoop | None = None, *, sweep: bool = True, consume: bool = True) -> None:
        """Deliver from ``loop`` (the server's event loop): call once it runs (app start-up). With
        JetStream, ``consume=False`` only publishes (another process delivers)."""
        loop = loop or asyncio.get_running_loop()
        if self._loop is loop:
            return
        self._loop = loop
        # aiohttp, not httpx: measured here, httpx's client took ~4 ms of CPU a request, aiohttp's
        # ~0.14 ms; a switch sends two callbacks per transfer. A message carries the headers its
        # protocol wants and no others (FSPIOP callbacks have no Accept).
        self._client = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=MAX_IN_FLIGHT), skip_auto_headers=("Accept", "User-Agent"),
            headers={"User-Agent": "dpistack-outbox"})
        self._slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        settings = self._platform.settings
        if settings.outbox_url:
            self.relay = JetStreamRelay(self, settings.outbox_url, settings.outbox_stream)
            self._relay_ready = asyncio.Event()
            self._spawn(self._start_relay(consume))
        if sweep:
            self._sweeper = self._loop.create_task(self._sweep_forever())

    async def _start_relay(self, consume: bool) -> None:
        while True:
            try:
                await self.relay.start(consume=consume)
                self._relay_ready.set()
                return
            except Exception as exc:  # noqa: BLE001 - NATS not up yet: messages wait in the table meanwhile
                log.warning("outbox: cannot reach JetStream at %s (%s); trying again", self.relay.url, exc)
                await asyncio.sleep(1)

    def _spawn(self, coroutine) -> None:
        task = self._loop.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._record()
        if self.relay is not None:
            await self.relay.stop()
            self.relay = self._relay_ready = None
        if self._client is not None:
            await self._client.close()
        self._loop = self._client = None

    def _send_all(self, messages: list[Message]) -> None:
        if self.relay is not None:
            self._spawn(self._publish(messages))
            return
        for message in messages:
            self._spawn(self._deliver(message))

    async def _publish(self, messages: list[Message]) -> None:
        await self._relay_ready.wait()
        await self.relay.publish(messages)

    async def attempt(self, message: Message) -> tuple[str | None, bool]:
        """Send ``message`` once: (None, _) when delivered, else (the error, whether it is final)."""
        channel = self.channel(message.channel)
        async with self._slots:
            self.sent += 1
            try:
                async with self._client.request(message.method, message.url, headers=message.headers,
                                                data=message.body or None, allow_redirects=False,
                                                timeout=aiohttp.ClientTimeout(total=channel.timeout)) as response:
                    status = response.status
                    text = "" if 200 <= status < 300 else (await response.read())[:300].decode(errors="replace")
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                return f"{type(exc).__name__}: {exc}"[:500], False
        if 200 <= status < 300:
            return None, False
        return f"HTTP {status}: {text}", 400 <= status < 500 and status not in (408, 429)

    async def _deliver(self, message: Message) -> None:
        error, final = await self.attempt(message)
        self._outcome(message, error, final)

    def _outcome(self, message: Message, error: str | None, final: bool = False) -> None:
        if error is None:
            self._outcomes.delivered.append(message)
        else:
            log.info("outbox %s message %s to %s failed (attempt %d): %s", message.channel, message.id,
                     message.url, message.attempts + 1, error)
            self._outcomes.failed.append((message, error, final))
        if self._recording is None:
            self._recording = self._loop.call_later(RECORD_SECONDS, self._record_soon)

    def _record_soon(self) -> None:
        self._spawn(self._record())

    async def _record(self) -> None:
        self._recording = None
        outcomes, self._outcomes = self._outcomes, _Outcomes()
        if not outcomes.delivered and not outcomes.failed:
            return
        try:
            retries = await self._platform.group_commit.run_async(self._write_outcomes, outcomes)
        except Exception:  # noqa: BLE001 - the rows stay due: a sweeper retries them after the lease
            log.exception("outbox: could not record delivery outcomes")
            return
        for message, delay in retries:
            self._loop.call_later(delay, self._send_all, [message])

    def _write_outcomes(self, session: Session, _platform: Any, outcomes: _Outcomes) -> list[tuple[Message, float]]:
        """Delete what was delivered; note failures; bury what has no attempts left. Returns the
        messages this process retries itself (soon enough to keep their lease)."""
        table = OutboxMessage.__table__
        if outcomes.delivered:
            remove = delete(table).where(table.c.id.in_([m.id for m in outcomes.delivered]))
            if any(self.channel(m.channel).on_delivered for m in outcomes.delivered):
                # a message delivered twice (a sweeper's retry after a crash) is reported once
                gone = set(session.execute(remove.returning(table.c.id)).scalars().all())
                for message in outcomes.delivered:
                    hook = self.channel(message.channel).on_delivered
                    if hook is not None and message.id in gone:
                        hook(session, self._platform, message)
            else:
                session.execute(remove)
        retries: list[tuple[Message, float]] = []
        now = utcnow()
        for message, error, final in outcomes.failed:
            channel = self.channel(message.channel)
            attempts = message.attempts + 1
            if final or attempts >= channel.max_attempts:
                updated = session.execute(update(table).where(table.c.id == message.id, table.c.status == "pending")
                                          .values(status="dead", attempts=attempts, last_error=error)).rowcount
                if updated and channel.on_dead is not None:
                    channel.on_dead(session, self._platform, message, error)
                continue
            delay = channel.delay(attempts)
            session.execute(update(table).where(table.c.id == message.id).values(
                attempts=attempts, last_error=error, next_attempt_at=now + timedelta(seconds=delay) + LEASE))
            if delay < LEASE.total_seconds() / 2:  # still ours: retry from memory
                retries.append((Message(message.id, message.channel, message.method, message.url, message.headers,
                                        message.body, attempts, message.context), delay))
        return retries

    # -- sweeping ---------------------------------------------------------------------------
    async def _sweep_forever(self) -> None:
        while True:
            try:
                claimed = await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the database may be away for a moment
                log.exception("outbox sweep failed")
                claimed = 0
            if claimed < SWEEP_BATCH:
                await asyncio.sleep(SWEEP_SECONDS)

    async def sweep(self) -> int:
        """Claim the messages that are due (for one lease) and send them; returns how many."""
        if not any_due(self._platform):  # a read: the write lock only when there is work
            return 0
        messages = await self._platform.group_commit.run_async(claim_due, SWEEP_BATCH)
        if messages:
            self._send_all(messages)
        return len(messages)


_ANY_DUE = DriverQuery(select(OutboxMessage.__table__.c.id).where(
    OutboxMessage.__table__.c.status == "pending", OutboxMessage.__table__.c.next_attempt_at <= bindparam("now"))
    .limit(1))


def any_due(platform: "Platform") -> bool:
    with platform.db.reading() as connection:
        return _ANY_DUE.first(connection, {"now": utcnow()}) is not None


def claim_due(session: Session, _platform: Any, limit: int) -> list[Message]:
    """Take up to ``limit`` due messages for one lease (skipping rows another process holds)."""
    table = OutboxMessage.__table__
    now = utcnow()
    query = (select(table).where(table.c.status == "pending", table.c.next_attempt_at <= now)
             .order_by(table.c.next_attempt_at).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = session.execute(query).all()
    if not rows:
        return []
    session.execute(update(table).where(table.c.id.in_([r.id for r in rows])).values(next_attempt_at=now + LEASE))
    return [Message(r.id, r.channel, r.method, r.url, dict(r.headers), r.body, r.attempts, r.context) for r in rows]


# -- operators ------------------------------------------------------------------------------
def dead_letters(session: Session, channel: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    table = OutboxMessage.__table__
    query = select(table).where(table.c.status == "dead").order_by(table.c.created_at).limit(limit)
    if channel:
        query = query.where(table.c.channel == channel)
    return [{"id": str(r.id), "channel": r.channel, "method": r.method, "url": r.url, "attempts": r.attempts,
             "last_error": r.last_error, "created_at": iso(r.created_at)} for r in session.execute(query)]


def retry_dead(session: Session, ids: list[int]) -> int:
    """Make dead letters due again (with fresh attempts); returns how many."""
    table = OutboxMessage.__table__
    return session.execute(update(table).where(table.c.id.in_(ids), table.c.status == "dead").values(
        status="pending", attempts=0, next_attempt_at=utcnow())).rowcount


def pending_count(session: Session, channel: str | None = None) -> int:
    table = OutboxMessage.__table__
    query = select(func.count()).select_from(table).where(table.c.status == "pending")
    if channel:
        query = query.where(table.c.channel == channel)
    return session.scalar(query) or 0


def wait_until_delivered(platform: "Platform", channel: str | None = None, timeout: float = 10.0) -> bool:
    """Poll until no message of ``channel`` is pending (demo and tests); True if so in time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with platform.db.uow() as session:
            if pending_count(session, channel) == 0:
                return True
        time.sleep(0.02)
    return False


