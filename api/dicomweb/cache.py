"""A byte-budgeted LRU for what is expensive to make again and never changes: decoded or
passed-through frames and rendered pictures of an instance. Keys start with the instance id
and its sha256 (a new revision of an instance is a new row with another hash), so nothing
stale can be served. Per process; thread-safe (filled from worker threads)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable


class ByteCache:
    def __init__(self, budget_bytes: int, largest_item: int) -> None:
        self.budget = budget_bytes
        self.largest = largest_item
        self._items: OrderedDict[Hashable, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def peek(self, key: Hashable) -> bytes | None:
        """The value when it is held (counted as a hit), else None: no making, so cheap
        enough for the event loop (a warm picture needs no worker thread)."""
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
                self.hits += 1
            return hit

    def get_or_make(self, key: Hashable, make: Callable[[], bytes]) -> bytes:
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
                self.hits += 1
                return hit
            self.misses += 1
        value = make()
        if len(value) <= self.largest:
            with self._lock:
                if key not in self._items:
                    self._items[key] = value
                    self._size += len(value)
                while self._size > self.budget and self._items:
                    _, old = self._items.popitem(last=False)
                    self._size -= len(old)
        return value


FRAMES = ByteCache(96 * 1024 * 1024, largest_item=8 * 1024 * 1024)
PICTURES = ByteCache(32 * 1024 * 1024, largest_item=2 * 1024 * 1024)
