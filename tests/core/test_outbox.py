"""The outbox: sent only after commit, retried with backoff, buried after its attempts, swept
after a crash, shared by processes without losing a message."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from dpistack.core import outbox as outbox_mod
from dpistack.core.outbox import Channel, Outbox, OutboxMessage
from dpistack.core.server import serve_in_thread
from dpistack.core.timeutil import utcnow


class Receiver:
    """A real HTTP endpoint on loopback that answers with the statuses it is told to, in turn."""

    def __init__(self, statuses: list[int] | None = None):
        self.statuses = list(statuses or [])
        self.received: list[tuple[str, bytes, dict]] = []
        self.lock = threading.Lock()

        async def handle(request: Request) -> Response:
            body = await request.body()
            with self.lock:
                self.received.append((request.url.path, body, dict(request.headers)))
                status = self.statuses.pop(0) if self.statuses else 200
            return Response(status_code=status)

        self.app = Starlette(routes=[Route("/{path:path}", handle, methods=["POST", "PUT"])])


@pytest.fixture
def receiver():
    r = Receiver()
    with serve_in_thread(r.app) as url:
        r.url = url
        yield r


def run(platform, scenario):
    """Run ``scenario(outbox)`` on a fresh event loop with the platform's outbox started on it."""
    async def main():
        platform.outbox.start(sweep=False)
        try:
            return await scenario(platform.outbox)
        finally:
            await platform.outbox.stop()
    return asyncio.run(main())


async def until(predicate, seconds=10.0):
    for _ in range(int(seconds / 0.02)):
        if predicate():
            return True
        await asyncio.sleep(0.02)
    return predicate()


def rows(platform):
    with platform.db.uow() as s:
        return list(s.execute(select(OutboxMessage.__table__)))


def test_sent_only_after_commit_and_deleted_once_delivered(platform, receiver):
    async def scenario(outbox: Outbox):
        try:
            with platform.db.uow(write=True) as s:
                outbox.enqueue(s, "test", "POST", receiver.url + "/rolled-back", {"x-a": "1"}, b"never")
                raise RuntimeError("the command failed")
        except RuntimeError:
            pass

        def write(session, _platform):
            outbox.enqueue(session, "test", "PUT", receiver.url + "/transfers/1", {"content-type": "x/y"}, b"body")
        await platform.group_commit.run_async(write)
        assert await until(lambda: len(receiver.received) == 1)
        assert await until(lambda: not rows(platform))  # delivered: the row is gone
        await asyncio.sleep(0.1)

    run(platform, scenario)
    assert [(p, b) for p, b, _ in receiver.received] == [("/transfers/1", b"body")]
    assert receiver.received[0][2]["content-type"] == "x/y"


def test_a_failed_attempt_is_retried_with_its_count_recorded(platform, receiver):
    receiver.statuses = [503, 500]
    platform.outbox.register(Channel("test", backoff=0.05, max_attempts=5))

    async def scenario(outbox):
        with platform.db.uow(write=True) as s:
            outbox.enqueue(s, "test", "POST", receiver.url + "/a", {}, b"x")
        assert await until(lambda: len(receiver.received) == 3)
        assert await until(lambda: not rows(platform))

    run(platform, scenario)
    assert len(receiver.received) == 3


def test_a_refusal_is_final_and_a_dead_letter_can_be_retried(platform, receiver):
    buried = []
    platform.outbox.register(Channel("test", backoff=0.05, max_attempts=5,
                                     on_dead=lambda s, p, m, error: buried.append((m.url, error))))
    receiver.statuses = [400]

    async def scenario(outbox):
        with platform.db.uow(write=True) as s:
            outbox.enqueue(s, "test", "POST", receiver.url + "/refuses", {}, b"x")
        assert await until(lambda: bool(buried))
        [row] = rows(platform)
        assert row.status == "dead" and row.attempts == 1 and "HTTP 400" in row.last_error
        with platform.db.uow() as s:
            assert [d["url"] for d in outbox_mod.dead_letters(s, "test")] == [receiver.url + "/refuses"]
        with platform.db.uow(write=True) as s:
            assert outbox_mod.retry_dead(s, [row.id]) == 1
        assert await outbox.sweep() == 1
        assert await until(lambda: not rows(platform))

    run(platform, scenario)
    assert len(receiver.received) == 2 and buried == [(receiver.url + "/refuses", buried[0][1])]


def test_an_unreachable_receiver_makes_a_dead_letter_after_its_attempts(platform):
    from dpistack.core.server import free_port

    platform.outbox.register(Channel("test", backoff=0.02, max_attempts=3))
    url = f"http://127.0.0.1:{free_port()}/nobody"

    async def scenario(outbox):
        with platform.db.uow(write=True) as s:
            outbox.enqueue(s, "test", "POST", url, {}, b"x")
        assert await until(lambda: rows(platform) and rows(platform)[0].status == "dead")
        return outbox.sent

    assert run(platform, scenario) == 3
    assert rows(platform)[0].attempts == 3


def test_a_message_left_by_a_crashed_process_is_swept_and_delivered(platform, receiver, tmp_path):
    # Written by a process that never delivered it (no event loop: it "crashed" after commit).
    writer = Outbox(platform)
    with platform.db.uow(write=True) as s:
        writer.enqueue(s, "test", "POST", receiver.url + "/orphan", {}, b"x")
    assert rows(platform)[0].status == "pending" and not receiver.received

    async def scenario(outbox):
        assert await outbox.sweep() == 0  # its lease has not run out: its writer may still send it
        with platform.db.uow(write=True) as s:
            s.execute(update(OutboxMessage.__table__).values(next_attempt_at=utcnow() - timedelta(seconds=1)))
        assert await outbox.sweep() == 1
        assert await until(lambda: not rows(platform))

    run(platform, scenario)
    assert [p for p, _, _ in receiver.received] == ["/orphan"]


def test_two_sweepers_claim_each_due_message_once(platform, receiver):
    with platform.db.uow(write=True) as s:
        for n in range(40):
            platform.outbox.enqueue(s, "test", "POST", f"{receiver.url}/m{n}", {}, b"x")
        s.execute(update(OutboxMessage.__table__).values(next_attempt_at=utcnow() - timedelta(seconds=1)))

    async def scenario(_outbox):
        first = await platform.group_commit.run_async(outbox_mod.claim_due, 25)
        second = await platform.group_commit.run_async(outbox_mod.claim_due, 25)
        return first, second

    first, second = run(platform, scenario)
    assert len(first) == 25 and len(second) == 15
    assert not {m.id for m in first} & {m.id for m in second}


# -- the cluster option: NATS JetStream between the table and the senders -----------------------
def test_jetstream_carries_committed_messages_and_retries_with_backoff(jetstream_outbox, receiver):
    platform = jetstream_outbox
    receiver.statuses = [503, 500]
    platform.outbox.register(Channel("test", backoff=0.05, max_attempts=5))

    async def scenario(outbox):
        try:
            with platform.db.uow(write=True) as s:
                outbox.enqueue(s, "test", "POST", receiver.url + "/rolled-back", {}, b"never")
                raise RuntimeError("the command failed")
        except RuntimeError:
            pass
        with platform.db.uow(write=True) as s:
            outbox.enqueue(s, "test", "PUT", receiver.url + "/transfers/1", {"content-type": "x/y"}, b"body")
        assert await until(lambda: outbox.relay is not None and outbox.relay.published == 1)
        assert await until(lambda: not rows(platform))  # in the stream now: the row is gone
        assert await until(lambda: len(receiver.received) == 3)  # two failures, then delivered
        await asyncio.sleep(0.2)

    run(platform, scenario)
    assert [(p, b) for p, b, _ in receiver.received] == [("/transfers/1", b"body")] * 3
    assert receiver.received[0][2]["content-type"] == "x/y"


def test_jetstream_buries_a_refusal_in_the_table_where_operators_retry_it(jetstream_outbox, receiver):
    platform = jetstream_outbox
    buried = []
    platform.outbox.register(Channel("test", backoff=0.05, max_attempts=5,
                                     on_dead=lambda s, p, m, error: buried.append((m.url, error))))
    receiver.statuses = [400]

    async def scenario(outbox):
        with platform.db.uow(write=True) as s:
            outbox.enqueue(s, "test", "POST", receiver.url + "/refuses", {}, b"x", context={"transfer": "t1"})
        assert await until(lambda: bool(buried))
        [row] = rows(platform)
        assert row.status == "dead" and row.attempts == 1 and "HTTP 400" in row.last_error
        assert row.context == {"transfer": "t1"} and row.body == b"x"
        with platform.db.uow(write=True) as s:
            assert outbox_mod.retry_dead(s, [row.id]) == 1
        assert await outbox.sweep() == 1  # swept, published again, delivered
        assert await until(lambda: len(receiver.received) == 2 and not rows(platform))

    run(platform, scenario)
    assert buried == [(receiver.url + "/refuses", buried[0][1])]


def test_jetstream_lets_another_process_deliver_what_one_wrote(jetstream_outbox, receiver):
    """A writer that only publishes (or dies after publishing): the stream keeps the messages until
    a process of the cluster pulls them, and each is delivered once."""
    platform = jetstream_outbox
    writer = Outbox(platform)

    async def scenario(sender):
        writer.start(sweep=False, consume=False)
        with platform.db.uow(write=True) as s:
            for n in range(30):
                writer.enqueue(s, "test", "POST", f"{receiver.url}/m{n}", {}, b"x")
        assert await until(lambda: writer.relay is not None and writer.relay.published == 30)
        await writer.stop()
        assert not receiver.received and not rows(platform)  # nobody delivered yet; the stream holds them
        sender.start(sweep=False)  # another process of the cluster comes up
        assert await until(lambda: len(receiver.received) == 30)
        await asyncio.sleep(0.2)

    async def main():
        try:
            return await scenario(platform.outbox)
        finally:
            await platform.outbox.stop()
    asyncio.run(main())
    assert sorted(p for p, _, _ in receiver.received) == sorted(f"/m{n}" for n in range(30))
