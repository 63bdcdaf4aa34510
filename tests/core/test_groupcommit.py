"""Group commit: durable before answered, one failure does not sink the batch, deferred rows
written once per batch."""

from __future__ import annotations

import asyncio
import threading

import pytest
from sqlalchemy import text

from dpistack.core.groupcommit import batch_of


@pytest.fixture
def table(platform):
    with platform.db.uow(write=True) as s:
        s.execute(text("CREATE TABLE gc_probe (n INTEGER PRIMARY KEY)"))
    return platform


def _insert(n):
    def fn(session, platform=None):
        session.execute(text("INSERT INTO gc_probe (n) VALUES (:n)"), {"n": n})
        return n
    return fn


def _count(platform) -> set[int]:
    with platform.db.uow() as s:
        return {row[0] for row in s.execute(text("SELECT n FROM gc_probe"))}


def test_results_come_after_the_commit_and_a_failure_sinks_only_itself(table):
    platform = table
    results, errors = {}, {}
    gate = threading.Event()

    def caller(n):
        gate.wait()
        try:
            # n == 7 inserts a duplicate key: its own failure, not the others'.
            results[n] = platform.group_commit.run(_insert(3 if n == 7 else n))
            assert n in _count(platform) or n == 7  # committed before the answer came back
        except Exception as exc:  # noqa: BLE001 - recorded for the assertion below
            errors[n] = exc

    threads = [threading.Thread(target=caller, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    gate.set()
    for t in threads:
        t.join(10)
    assert set(errors) <= {3, 7} and len(errors) == 1  # whichever of the two came second
    assert _count(platform) == set(range(20)) - {7}


def test_deferred_rows_are_written_once_per_batch(table):
    platform = table
    written = []

    def fn(n):
        def inner(session, platform):
            batch = batch_of(session)
            assert batch is not None
            batch.defer("probe", n, lambda items: (written.append(list(items)),
                                                   [_insert(i)(session) for i in items]))
        return inner

    for n in (100, 101):
        platform.group_commit.run(fn(n))
    assert written == [[100], [101]] and {100, 101} <= _count(platform)
    with platform.db.uow() as session:  # an ordinary transaction defers nothing
        assert batch_of(session) is None


def _insert_n(session, platform, n):
    session.execute(text("INSERT INTO gc_probe (n) VALUES (:n)"), {"n": n})
    return n


def test_on_the_event_loop_writes_share_a_commit_and_fail_alone(table):
    platform = table

    async def main():
        calls = [platform.group_commit.run_async(_insert_n, 3 if n == 7 else n) for n in range(20)]
        return await asyncio.gather(*calls, return_exceptions=True)

    outcomes = asyncio.run(main())
    failed = [n for n, o in enumerate(outcomes) if isinstance(o, Exception)]
    assert failed == [7] and [o for o in outcomes if not isinstance(o, Exception)] == [n for n in range(20) if n != 7]
    assert _count(platform) == set(range(20)) - {7}


def test_the_loop_serves_on_while_another_writer_holds_the_lock(sqlite_platform):
    """SQLite's writers take turns on a lock. The loop never waits for it: while a thread
    holds it, other coroutines run; the write goes through once the lock is free."""
    platform = sqlite_platform
    with platform.db.uow(write=True) as s:
        s.execute(text("CREATE TABLE gc_probe (n INTEGER PRIMARY KEY)"))
    held, release = threading.Event(), threading.Event()

    def holder():
        with platform.db.uow(write=True):
            held.set()
            release.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait(10)

    async def main():
        write = asyncio.ensure_future(platform.group_commit.run_async(_insert_n, 42))
        ticks = 0
        while ticks < 20:  # the loop keeps turning while the write waits
            await asyncio.sleep(0.005)
            ticks += 1
        assert not write.done()
        release.set()
        return ticks, await asyncio.wait_for(write, 10)

    ticks, result = asyncio.run(main())
    thread.join(10)
    assert ticks == 20 and result == 42 and 42 in _count(platform)


def test_items_handed_together_are_processed_by_one_call_and_fail_alone(table):
    platform = table
    calls = []

    def insert_all(session, _platform, items):
        calls.append(list(items))
        if 13 in items and len(items) > 1:
            raise RuntimeError("one bad item sinks the call")
        return [ValueError("refused") if n == 13 else _insert(n)(session) for n in items]

    async def main():
        return await asyncio.gather(*(platform.group_commit.run_async_together(insert_all, n) for n in range(10, 16)),
                                    return_exceptions=True)

    results = asyncio.run(main())
    assert calls[0] == [10, 11, 12, 13, 14, 15]  # one call for the batch, then each alone
    assert len(calls) == 7
    assert results[:3] == [10, 11, 12] and isinstance(results[3], ValueError) and results[4:] == [14, 15]
    assert _count(platform) == {10, 11, 12, 14, 15}
