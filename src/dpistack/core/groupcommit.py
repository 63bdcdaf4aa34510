"""Group commit: many small write transactions share one database commit.

A caller hands a write ``fn(session, platform, *args)`` to :meth:`GroupCommit.run` (from a
thread) or :meth:`GroupCommit.run_async` (from the event loop); the waiting writes run in a
single transaction, commit once, and only then does each caller get its result. So every
answer is still durable before it is sent, but a burst of requests costs one commit and one
round of locking instead of one each.

Inside a batch, writes may *defer* rows of the same kind (``Batch.defer``) so that they are
written with one statement for the whole batch. If any write fails, the transaction is
rolled back and the batch is run again one write at a time, so only the culprit fails.

Where the batch runs:

* ``run``: a writer thread of this process.
* ``run_async``: the event loop itself, once it has taken in whatever requests were ready,
  holding the loop for the batch (about 0.5 ms of commit plus a few ms of work for tens of
  writes). Not a thread: a thread that holds the database's write lock while it waits for
  the GIL behind a busy event loop makes every writer of the host wait too. Measured under
  authentication load on 2 cores, a commit of 0.5 ms took 4-6 ms that way, and two workers
  did fewer authentications than one. The loop never waits for the SQLite write lock either:
  when another process holds it, the loop goes on serving and tries again a moment later.

Authentication records use it; so can any block whose writes are small, frequent and
independent.

Writes that are cheaper *together* than one by one (the ledger's transfers: one look-up of the
accounts for the whole batch, one update per account) are handed over with
:meth:`GroupCommit.run_async_together`: the items of one batch that share a function are
processed by one call of it, which returns one result per item (an exception instance in
place of a result fails that item's caller only).
"""

from __future__ import annotations

import asyncio
import queue
import threading
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Callable

from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from dpistack.core.platform import Platform

MAX_BATCH = 256
LOCK_RETRY_SECONDS = 0.001  # how soon the loop tries again for a write lock another process holds

Write = tuple[Callable[..., Any], tuple]  # fn(session, platform, *args), args
Together = Callable[..., list]  # fn_all(session, platform, items) -> one result per item


class Batch:
    """Rows deferred by the writes of one batch, written together just before the commit."""

    def __init__(self) -> None:
        self._pending: dict[str, tuple[Callable[[list], None], list]] = {}

    def defer(self, kind: str, item: Any, write_all: Callable[[list], None]) -> None:
        self._pending.setdefault(kind, (write_all, []))[1].append(item)

    def flush(self) -> None:
        for write_all, items in self._pending.values():
            write_all(items)
        self._pending.clear()


def batch_of(session: Session) -> Batch | None:
    """The batch this session is writing, when it is a group commit's."""
    return session.info.get("group_commit")


def run_batch(platform: Platform, writes: list[Write], locked: bool = False) -> list[tuple[bool, Any]]:
    """Run ``writes`` in one transaction: [(True, result) | (False, exception)] in order.
    ``locked``: the caller holds the database's writer lock already."""
    try:
        with platform.db.uow(write=True, locked=locked) as session:
            session.info["group_commit"] = deferred = Batch()
            results = [(True, fn(session, platform, *args)) for fn, args in writes]
            deferred.flush()
        return results
    except Exception as exc:
        if len(writes) == 1:
            return [(False, exc)]
        # someone's write failed and took the batch down: redo them one by one
        return [run_batch(platform, [write], locked)[0] for write in writes]


def _TOGETHER(*_: Any) -> None:  # marks an item for run_async_together; never called
    raise AssertionError("not a write")


def run_batch_together(platform: Platform, writes: list[Write], locked: bool = False) -> list[tuple[bool, Any]]:
    """:func:`run_batch`, where the items marked for ``run_async_together`` are processed by one
    call of their function per batch. If such a call fails, its items are tried one by one."""
    groups: dict[Any, list[int]] = {}
    plain: list[int] = []
    for n, (fn, args) in enumerate(writes):
        if fn is _TOGETHER:
            groups.setdefault(args[0], []).append(n)
        else:
            plain.append(n)
    if not groups:
        return run_batch(platform, writes, locked)

    def together(fn_all: Together, items: list) -> Write:
        return (lambda session, platform_: fn_all(session, platform_, items), ())

    combined = [writes[n] for n in plain] + [together(fn_all, [writes[n][1][1] for n in members])
                                            for fn_all, members in groups.items()]
    outcomes = run_batch(platform, combined, locked)
    results: list[tuple[bool, Any]] = [(False, RuntimeError("no outcome"))] * len(writes)
    for n, outcome in zip(plain, outcomes):
        results[n] = outcome
    for (fn_all, members), (ok, value) in zip(groups.items(), outcomes[len(plain):]):
        if not ok and len(members) > 1:  # one item's failure sank the call: each on its own
            value = [run_batch(platform, [together(fn_all, [writes[n][1][1]])], locked)[0] for n in members]
            value = [(result[0] if ok_ else result) for ok_, result in value]
        elif not ok:
            value = [value]
        for n, result in zip(members, value):
            results[n] = (False, result) if isinstance(result, BaseException) else (True, result)
    return results


class GroupCommit:
    def __init__(self, platform: Platform, max_batch: int = MAX_BATCH):
        self._platform, self._max = platform, max_batch
        self._queue: queue.SimpleQueue[tuple[Write, Future] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()
        self._waiting: dict[asyncio.AbstractEventLoop, list[tuple[Write, asyncio.Future]]] = {}

    # -- from a thread ------------------------------------------------------------------

    def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(session, platform, *args)`` in a shared write transaction; return its
        result once that has committed (from a thread, never from the event loop)."""
        if self._thread is None:
            with self._start:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._loop, name="group-commit", daemon=True)
                    self._thread.start()
        future: Future = Future()
        self._queue.put(((fn, args), future))
        return future.result()

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self._max:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)  # stop after this batch
                    break
                batch.append(item)
            outcomes = run_batch(self._platform, [write for write, _ in batch])
            for (_, future), (ok, value) in zip(batch, outcomes):
                future.set_result(value) if ok else future.set_exception(value)

    # -- from the event loop ------------------------------------------------------------

    async def run_async(self, fn: Callable[..., Any], *args: Any) -> Any:
        """:meth:`run` for the event loop: the write joins the loop's next batch."""
        return await self._join((fn, args))

    async def run_async_together(self, fn_all: Together, item: Any) -> Any:
        """Hand ``item`` to ``fn_all(session, platform, items)`` together with the other items
        for ``fn_all`` in the loop's next batch; returns this item's result once committed."""
        return await self._join((_TOGETHER, (fn_all, item)))

    def _join(self, write: Write) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        waiting = self._waiting.get(loop)
        if waiting is None:  # nothing scheduled on this loop yet: the batch runs once the
            waiting = self._waiting[loop] = []  # requests that are ready have been taken in
            loop.call_soon(self._flush, loop)
        waiting.append((write, future))
        return future

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        db = self._platform.db
        try:
            if not db.try_write_lock():
                loop.call_later(LOCK_RETRY_SECONDS, self._flush, loop)
                return
        except Exception as exc:  # the lock file cannot be opened: fail the waiting writes, not hang them
            for _, future in self._waiting.pop(loop, []):
                if not future.done():
                    future.set_exception(exc)
            return
        try:
            waiting = self._waiting.pop(loop)
            batch, rest = waiting[:self._max], waiting[self._max:]
            if rest:
                self._waiting[loop] = rest
                loop.call_soon(self._flush, loop)
            outcomes = run_batch_together(self._platform, [write for write, _ in batch], locked=True)
        finally:
            db.release_write_lock()
        for (_, future), (ok, value) in zip(batch, outcomes):
            if not future.done():  # its request may have been cancelled meanwhile
                future.set_result(value) if ok else future.set_exception(value)

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=10)
            self._thread = None
