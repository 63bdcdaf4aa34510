"""Where events travel: the platform database (the core outbox, the default) or NATS JetStream
(``DPI_EVENTS_URL=nats://…``, stream ``DPI_EVENTS_STREAM``)."""

from __future__ import annotations

import asyncio
import json
import logging
import random
from typing import Any

import aiohttp
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from dpistack.core.platform import Platform
from dpistack.exchange import events
from dpistack.exchange.models import Subscription

log = logging.getLogger("dpistack.exchange.events")


class DatabaseEvents:
    """Events and their deliveries in the platform database, pushed by the core outbox."""

    def __init__(self, platform: Platform):
        self.platform = platform
        events.register_channel(platform)

    async def publish(self, owner: str, room: str, event_type: str, event: Any, publisher_client: str) -> str:
        def write() -> str:
            with self.platform.db.uow(write=True) as session:
                return events.publish(session, self.platform, owner, room, event_type, event, publisher_client)[0]
        return await run_in_threadpool(write)

    async def subscribed(self, subscription_id: str) -> None:
        pass

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass


def subject(stream: str, owner: str, room: str, event_type: str) -> str:
    return f"{stream}.{owner}.{room}.{event_type}".replace(" ", "_").replace("*", "_").replace(">", "_")


class NatsEvents:
    """Events on a NATS JetStream stream: a publication is a JetStream message (``Nats-Msg-Id`` =
    the event id, so a retried publish is stored once); each PUSH subscription is a durable
    consumer (created when the subscription is, delivering only what is published after),
    from which every server process pulls and POSTs to the subscriber's URL: acknowledged on
    2xx, redelivered after a backoff otherwise, and after ``events.MAX_ATTEMPTS`` attempts
    terminated and recorded as a dead letter in the platform database (delivery ``dead``,
    with its last error). PULL subscriptions and the publication's status stay in the
    platform database."""

    REFRESH_SECONDS = 1.0

    def __init__(self, platform: Platform, url: str, stream: str):
        self.platform, self.url, self.stream = platform, url, stream
        self._nc: Any = None
        self._js: Any = None
        self._lock = asyncio.Lock()
        self._tasks: dict[str, asyncio.Task] = {}
        self._refresher: asyncio.Task | None = None
        self._http: aiohttp.ClientSession | None = None
        self.max_attempts, self.backoff = events.MAX_ATTEMPTS, 0.5

    async def js(self) -> Any:
        async with self._lock:
            if self._js is None:
                import nats
                from nats.js.api import StreamConfig

                self._nc = await nats.connect(self.url, connect_timeout=3, max_reconnect_attempts=3)
                self._js = self._nc.jetstream()
                config = StreamConfig(name=self.stream, subjects=[f"{self.stream}.>"])
                try:
                    await self._js.add_stream(config)
                except Exception:  # noqa: BLE001 - exists with other settings: keep it as it is
                    await self._js.stream_info(self.stream)
        return self._js

    async def publish(self, owner: str, room: str, event_type: str, event: Any, publisher_client: str) -> str:
        def write() -> tuple[str, dict]:
            with self.platform.db.uow(write=True) as session:
                event_id, _ = events.publish(session, self.platform, owner, room, event_type, event,
                                             publisher_client, backend=self)
                from dpistack.exchange.models import Event
                return event_id, events.event_item(session.get(Event, event_id), publisher_client,
                                                   events.cipher(self.platform))
        event_id, item = await run_in_threadpool(write)
        js = await self.js()
        await js.publish(subject(self.stream, owner, room, event_type), json.dumps(item).encode(),
                         headers={"Nats-Msg-Id": event_id})
        return event_id

    async def subscribed(self, subscription_id: str) -> None:
        sub = await run_in_threadpool(self._subscription, subscription_id)
        if sub is not None and sub["delivery"] == "PUSH":
            await self._consumer(sub)

    def _subscription(self, subscription_id: str) -> dict | None:
        with self.platform.db.uow() as session:
            row = session.get(Subscription, subscription_id)
            return self._view(row) if row is not None else None

    @staticmethod
    def _view(row: Subscription) -> dict:
        owner, _, room = row.room_id.partition("/")
        return {"id": row.id, "owner": owner, "room": room, "event_type": row.event_type,
                "delivery": row.delivery, "push_url": row.push_url, "status": row.status}

    async def _consumer(self, sub: dict) -> Any:
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

        js = await self.js()
        config = ConsumerConfig(durable_name=f"sub-{sub['id']}", deliver_policy=DeliverPolicy.NEW,
                                ack_policy=AckPolicy.EXPLICIT, ack_wait=30, max_deliver=self.max_attempts + 1,
                                filter_subject=subject(self.stream, sub["owner"], sub["room"], sub["event_type"]))
        return await js.pull_subscribe(config.filter_subject, durable=config.durable_name, stream=self.stream,
                                       config=config)

    async def start(self) -> None:
        self._http = aiohttp.ClientSession(skip_auto_headers=("User-Agent",))
        self._refresher = asyncio.get_running_loop().create_task(self._refresh_forever())

    async def stop(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), *([self._refresher] if self._refresher else []),
                             return_exceptions=True)
        self._tasks.clear()
        if self._http is not None:
            await self._http.close()
        if self._nc is not None:
            await self._nc.close()
            self._nc = self._js = None

    def _push_subscriptions(self) -> list[dict]:
        with self.platform.db.uow() as session:
            return [self._view(r) for r in session.scalars(select(Subscription).where(
                Subscription.delivery == "PUSH", Subscription.status == "active"))]

    async def _refresh_forever(self) -> None:
        while True:
            try:
                active = {s["id"]: s for s in await run_in_threadpool(self._push_subscriptions)}
                for sub_id, task in list(self._tasks.items()):
                    if sub_id not in active or task.done():
                        task.cancel()
                        del self._tasks[sub_id]
                for sub_id, sub in active.items():
                    if sub_id not in self._tasks:
                        self._tasks[sub_id] = asyncio.get_running_loop().create_task(self._deliver_forever(sub))
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - NATS or the database away for a moment
                log.exception("events: refreshing the subscriptions failed")
            await asyncio.sleep(self.REFRESH_SECONDS)

    async def _deliver_forever(self, sub: dict) -> None:
        import nats.errors

        psub = await self._consumer(sub)
        while True:
            try:
                messages = await psub.fetch(batch=64, timeout=1)
            except nats.errors.TimeoutError:
                continue
            for message in messages:
                await self._deliver(sub, message)

    async def _deliver(self, sub: dict, message: Any) -> None:
        event_id = (message.headers or {}).get("Nats-Msg-Id", "")
        error = None
        try:
            async with self._http.post(sub["push_url"], data=message.data, allow_redirects=False,
                                       headers={"Content-Type": "application/json", "X-GovStack-Event-Id": event_id,
                                                "X-GovStack-Subscription": sub["id"]},
                                       timeout=aiohttp.ClientTimeout(total=10)) as r:
                if not 200 <= r.status < 300:
                    error = f"HTTP {r.status}"
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            error = f"{type(exc).__name__}: {exc}"[:300]
        if error is None:
            await message.ack()
            await self._record(event_id, sub["id"], "delivered", None)
            return
        attempts = message.metadata.num_delivered
        if attempts >= self.max_attempts:
            await message.term()
            log.info("events: %s to %s is a dead letter after %d attempts: %s", event_id, sub["push_url"],
                     attempts, error)
            await self._record(event_id, sub["id"], "dead", error)
        else:
            delay = min(300.0, self.backoff * 2 ** (attempts - 1)) * random.uniform(0.8, 1.2)
            await message.nak(delay=delay)

    async def _record(self, event_id: str, subscription_id: str, status: str, error: str | None) -> None:
        try:
            await self.platform.group_commit.run_async(events.record_outcome, event_id, subscription_id, status, error)
        except Exception:  # noqa: BLE001 - the outcome is in JetStream either way
            log.exception("events: could not record the outcome of %s", event_id)


def make_bus(platform: Platform) -> DatabaseEvents | NatsEvents:
    url = platform.settings.events_url
    if url and url.startswith("nats://"):
        return NatsEvents(platform, url, platform.settings.events_stream)
    return DatabaseEvents(platform)
