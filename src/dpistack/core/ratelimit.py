"""Rate limits per caller, on the ``limits`` library.

The default storage is this process's memory, which is right for one ``dpi serve`` process;
with several workers or hosts set ``DPI_RATE_LIMIT_STORAGE`` to a shared store
(``redis://127.0.0.1:6379``, with the ``redis`` package installed) so that they count together.
"""

from __future__ import annotations

import math
import time
from functools import lru_cache

from limits import RateLimitItem, storage, strategies
from limits import parse as _parse


@lru_cache(maxsize=64)
def parse(limit: str) -> RateLimitItem:
    """The parsed limit (parsing costs more than counting; limits come from settings)."""
    return _parse(limit)


class RateLimiter:
    """Named limits ("100/minute") counted per key (usually a participant id)."""

    def __init__(self, storage_uri: str = "memory://"):
        self._limiter = strategies.SlidingWindowCounterRateLimiter(storage.storage_from_string(storage_uri))
        # With this process's memory as the store, every event is counted here: remember when
        # each (limit, keys) last had one, so that asking about one with none in its two last
        # windows (all a sliding-window counter looks at) needs no look-up. Most relying
        # parties have no failed authentication most of the time.
        self._last_event: dict[tuple, float] | None = {} if storage_uri.startswith("memory") else None

    def allows(self, limit: str, *keys: str) -> bool:
        """Would one more event fit under ``limit``? (Counts nothing.)"""
        item = parse(limit)
        if self._last_event is not None and item.amount > 0:
            last = self._last_event.get((limit, *keys))
            if last is None or time.monotonic() - last > 2 * item.get_expiry():
                return True
        return self._limiter.test(item, *keys)

    def hit(self, limit: str, *keys: str) -> bool:
        """Count one event; False when it is over the limit."""
        if self._last_event is not None:
            self._last_event[(limit, *keys)] = time.monotonic()
        return self._limiter.hit(parse(limit), *keys)

    def retry_after(self, limit: str, *keys: str) -> int:
        """Seconds until the limit lets one more event through."""
        reset = self._limiter.get_window_stats(parse(limit), *keys).reset_time
        return max(1, math.ceil(reset - time.time()))
