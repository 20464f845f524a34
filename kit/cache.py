"""A bounded in-process read cache that never serves a value older than its invalidations.

Entries expire after `ttl_s` (the backstop for a missed invalidation). A load that overlaps any
invalidation is not stored: `token()` is taken before reading the database and `put()` drops the
value if the invalidation epoch moved meanwhile, so a slow reader cannot re-insert a value a
concurrent writer has just invalidated.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class ReadCache(Generic[K, V]):
    def __init__(self, *, max_entries: int = 50_000, ttl_s: float = 30.0):
        self._entries: OrderedDict[K, tuple[V, float]] = OrderedDict()
        self._max = max_entries
        self._ttl = ttl_s
        self._epoch = 0
        self.hits = 0
        self.misses = 0

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None or entry[1] < time.monotonic():
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return entry[0]

    def token(self) -> int:
        """Take before loading a value from the source of truth; hand it to `put`."""
        return self._epoch

    def put(self, key: K, value: V, token: int) -> None:
        if token != self._epoch or self._max <= 0:
            return  # something was invalidated while we loaded: the value may be stale
        self._entries[key] = (value, time.monotonic() + self._ttl)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def invalidate(self, key: K) -> None:
        self._epoch += 1
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._epoch += 1
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
