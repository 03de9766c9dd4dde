"""A memory-bounded LRU of decoded frames, so that a frame drawn again with another window,
viewport, quality or format is not decoded again (issue 18, point 4).

The caller chooses the key; it must name the file's version, not only the instance (the
web layer uses the instance row, its sha256 and the frame number: a replaced instance is
a new row with another hash, a deleted one is never looked up again), so a cached frame
can never be served for pixels that have changed. An entry costs its array's bytes plus a
fixed allowance for the header; the least recently used entries go first when the budget
is passed, and a frame larger than ``largest`` is decoded but not kept. Thread-safe: the
web process fills it from worker threads. Two threads asking for the same missing frame
at once both decode it (the second result is dropped): no lock is held while decoding.

``SizedLRU`` is the cache itself, for any value with a size (``api.dicomweb.cache`` keeps
encoded frames and pictures in it, sized by their bytes).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from pydicom.dataset import Dataset

from imaging.frames import DecodedFrame

HEADER_ALLOWANCE = 16 * 1024  # bytes counted for the header kept with each frame
V = TypeVar("V")


class SizedLRU(Generic[V]):
    """Least recently used out first once the values' sizes pass ``budget_bytes``; a value
    larger than ``largest`` is returned but not kept."""

    def __init__(self, budget_bytes: int, largest: int, size: Callable[[V], int]) -> None:
        self.budget = budget_bytes
        self.largest = largest
        self._cost = size
        self._items: OrderedDict[Hashable, V] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def size(self) -> int:
        return self._size

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._items

    def peek(self, key: Hashable) -> V | None:
        """The value when it is held (counted as a hit), else None: nothing is made, so it
        is cheap enough for an event loop."""
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
                self.hits += 1
            return hit

    def get_or_make(self, key: Hashable, make: Callable[[], V]) -> V:
        hit = self.peek(key)
        if hit is not None:
            return hit
        with self._lock:
            self.misses += 1
        value = make()
        self._kept(value)
        cost = self._cost(value)
        if cost <= min(self.largest, self.budget):
            with self._lock:
                if key not in self._items:
                    self._items[key] = value
                    self._size += cost
                while self._size > self.budget and self._items:
                    _, old = self._items.popitem(last=False)
                    self._size -= self._cost(old)
        return value

    def _kept(self, value: V) -> None:
        """Called with every value made, before it may be kept (a subclass's hook)."""

    def forget(self, match: Callable[[Hashable], bool]) -> int:
        """Drop every entry whose key ``match`` accepts; how many went."""
        with self._lock:
            gone = [key for key in self._items if match(key)]
            for key in gone:
                self._size -= self._cost(self._items.pop(key))
        return len(gone)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._size = 0


@dataclass(frozen=True, slots=True)
class LoadedFrame:
    """A decoded frame with the header whose attributes shape its display."""

    frame: DecodedFrame
    header: Dataset

    @property
    def cost(self) -> int:
        return int(self.frame.array.nbytes) + HEADER_ALLOWANCE


class FrameCache(SizedLRU[LoadedFrame]):
    def __init__(self, budget_bytes: int, largest: int) -> None:
        super().__init__(budget_bytes, largest, lambda loaded: loaded.cost)

    def get_or_load(self, key: Hashable, load: Callable[[], LoadedFrame]) -> LoadedFrame:
        return self.get_or_make(key, load)

    def _kept(self, value: LoadedFrame) -> None:
        value.frame.array.flags.writeable = False  # shared between requests: never changed
