"""A change board: how the worker processes of one host tell each other that something changed.

A block that keeps database rows in a per-process cache (authentication keeps each person's
state) needs to know when another process has changed them. The board is a file of 2**20
slots of 8 bytes, mapped into the memory of every process of the instance. A key (a person's
subject, say) falls in one slot; whoever changes what the key names writes a fresh random
value into its slot *after* committing. A cache entry remembers the slot's value from before
it read the database, and is good only while the slot still holds that value. Reading a slot
costs a memory read, not a database round trip.

Random values instead of a counter: two processes bumping at once cannot both write the same
"next" value and so hide a change. Keys that share a slot only cause an extra re-read.

The board is per host (it lives in the data directory). Several hosts on one PostgreSQL do
not see each other's boards: run them with the caches off (``DPI_PROCESS_CACHES=false``).
"""

from __future__ import annotations

import hashlib
import mmap
import os
import secrets
import struct
from pathlib import Path
from typing import Iterable

from sqlalchemy import event
from sqlalchemy.orm import Session

SLOTS = 1 << 20
_SLOT = struct.Struct("<Q")


class ChangeBoard:
    def __init__(self, path: Path | None, slots: int = SLOTS):
        self._slots = slots
        size = slots * _SLOT.size
        if path is None:  # one process only
            self._map: mmap.mmap | bytearray = bytearray(size)
            return
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size < size:
                os.ftruncate(fd, size)  # idempotent: processes opening it together agree on the size
            self._map = mmap.mmap(fd, size)
        finally:
            os.close(fd)

    def _offset(self, key: str) -> int:
        slot = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little") % self._slots
        return slot * _SLOT.size

    def stamp(self, key: str) -> int:
        """The slot's current value: read it before reading what ``key`` names."""
        return _SLOT.unpack_from(self._map, self._offset(key))[0]

    def bump(self, keys: Iterable[str]) -> None:
        """Say that what ``keys`` name has changed (call after the change is committed)."""
        for key in keys:
            _SLOT.pack_into(self._map, self._offset(key), secrets.randbits(64))

    def bump_after_commit(self, session: Session, key: str) -> None:
        """Bump ``key`` once ``session`` commits. (After a rollback the keys stay pending: a
        needless bump later costs a re-read, a missed one a stale cache.)"""
        if "change_board_keys" not in session.info:
            event.listen(session, "after_commit", self._bump_committed)
        session.info.setdefault("change_board_keys", set()).add(key)

    def _bump_committed(self, session: Session) -> None:
        self.bump(session.info.pop("change_board_keys", ()))
