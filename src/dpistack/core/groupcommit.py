"""Group commit: many small write transactions share one database commit.

A request thread hands a function ``fn(session)`` to :meth:`GroupCommit.run` and blocks; one
writer thread runs the waiting functions in a single transaction, commits once, and only
then gives each caller its result. So every answer is still durable before it is sent, but a
burst of requests costs one commit and one round of locking instead of one each.

Inside a batch, functions may *defer* rows of the same kind (``defer``) so that they are
written with one statement for the whole batch. If any function fails, the transaction is
rolled back and the batch is run again one function at a time, so only the culprit fails.
Authentication records use it; so can any block whose writes are small, frequent and
independent.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from typing import Any, Callable

from sqlalchemy.orm import Session

from dpistack.core.db import Database

MAX_BATCH = 256


class Batch:
    """Rows deferred by the functions of one batch, written together just before the commit."""

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


class GroupCommit:
    def __init__(self, db: Database, max_batch: int = MAX_BATCH):
        self._db, self._max = db, max_batch
        self._queue: queue.SimpleQueue[tuple[Callable[[Session], Any], Future] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()

    def run(self, fn: Callable[[Session], Any]) -> Any:
        """Run ``fn`` in a shared write transaction; return its result once that has committed."""
        if self._thread is None:
            with self._start:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._loop, name="group-commit", daemon=True)
                    self._thread.start()
        future: Future = Future()
        self._queue.put((fn, future))
        return future.result()

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=10)
            self._thread = None

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
            self._commit(batch)

    def _commit(self, batch: list[tuple[Callable[[Session], Any], Future]]) -> None:
        try:
            with self._db.uow(write=True) as session:
                session.info["group_commit"] = deferred = Batch()
                results = [fn(session) for fn, _ in batch]
                deferred.flush()
        except Exception as exc:
            if len(batch) == 1:
                batch[0][1].set_exception(exc)
            else:  # someone's write failed and took the batch down: redo them one by one
                for item in batch:
                    self._commit([item])
            return
        for (_, future), result in zip(batch, results):
            future.set_result(result)
