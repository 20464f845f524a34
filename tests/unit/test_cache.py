"""ReadCache: TTL, bound, and the invalidation-epoch guard against stale fills."""

from __future__ import annotations

import time

from kit.cache import ReadCache


def test_hit_miss_ttl_and_bound():
    cache: ReadCache[str, int] = ReadCache(max_entries=2, ttl_s=0.05)
    cache.put("a", 1, cache.token())
    cache.put("b", 2, cache.token())
    assert cache.get("a") == 1
    cache.put("c", 3, cache.token())  # evicts the least recently used: "b"
    assert cache.get("b") is None and cache.get("a") == 1 and cache.get("c") == 3
    time.sleep(0.06)
    assert cache.get("a") is None


def test_a_load_that_overlaps_an_invalidation_is_not_stored():
    cache: ReadCache[str, str] = ReadCache()
    token = cache.token()  # a reader starts loading "m1" from the database...
    cache.invalidate("m1")  # ...a writer commits and invalidates meanwhile
    cache.put("m1", "old value", token)  # the reader's (possibly stale) value is dropped
    assert cache.get("m1") is None
    cache.put("m1", "fresh", cache.token())
    assert cache.get("m1") == "fresh"
    cache.invalidate("m1")
    assert cache.get("m1") is None
    cache.put("x", "y", cache.token())
    cache.clear()
    assert len(cache) == 0
