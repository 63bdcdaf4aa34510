"""Group commit: durable before answered, one failure does not sink the batch, deferred rows
written once per batch."""

from __future__ import annotations

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
    def fn(session):
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
        def inner(session):
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
