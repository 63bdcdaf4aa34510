"""Identity numbers benchmark: UINs and VIDs generated per second (goal: >= 100,000 UIN/s).

Pure Python, one process, MOSIP default policies (10-digit UIN, 16-digit VID). The per-policy
tables are built once per process (a fraction of a second) in a warm-up that is not timed.
"""

from __future__ import annotations

import time

from dpistack.identity import numbers


def measure_uin_generation(n: int = 200_000) -> dict:
    """Generate ``n`` distinct UINs and ``n`` distinct VIDs with the default policies; time each.

    Returns ``{"uins": n, "uin_per_s": ..., "vid_per_s": ...}`` (rates rounded to whole numbers).
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError("n must be a positive int")
    numbers.generate_uins(1000)  # warm-up: builds the default policies' tables
    numbers.generate_vids(1000)

    started = time.perf_counter()
    uins = numbers.generate_uins(n)
    uin_seconds = time.perf_counter() - started

    started = time.perf_counter()
    vids = numbers.generate_vids(n)
    vid_seconds = time.perf_counter() - started

    assert len(uins) == len(vids) == n
    return {
        "uins": n,
        "uin_per_s": round(n / uin_seconds),
        "vid_per_s": round(n / vid_seconds),
    }
