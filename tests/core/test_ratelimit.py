"""Rate limits: counted per key, and the in-memory shortcut agrees with the counter."""

from __future__ import annotations

from limits import storage, strategies

from dpistack.core.ratelimit import RateLimiter, parse


def test_limits_are_counted_per_key_and_refuse_once_full():
    limiter = RateLimiter()
    assert limiter.allows("3/minute", "rp-a")
    assert all(limiter.hit("3/minute", "rp-a") for _ in range(3))
    assert not limiter.allows("3/minute", "rp-a") and not limiter.hit("3/minute", "rp-a")
    assert limiter.allows("3/minute", "rp-b") and limiter.allows("3/hour", "rp-a")  # other keys, other limits
    assert 1 <= limiter.retry_after("3/minute", "rp-a") <= 60


def test_the_shortcut_for_keys_without_events_gives_the_counters_answer():
    limiter = RateLimiter()
    counter = strategies.SlidingWindowCounterRateLimiter(storage.MemoryStorage())
    sequence = [("2/minute", "a"), ("2/minute", "a"), ("5/minute", "b"), ("2/minute", "c")]
    for limit, key in sequence:
        assert limiter.allows(limit, key) == counter.test(parse(limit), key)
        limiter.hit(limit, key)
        counter.hit(parse(limit), key)
        assert limiter.allows(limit, key) == counter.test(parse(limit), key)
    assert not limiter.allows("0/minute", "never") and not counter.test(parse("0/minute"), "never")
