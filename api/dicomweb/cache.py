"""A byte-budgeted LRU for what is expensive to make again and never changes: decoded or
passed-through frames and rendered pictures of an instance. Keys start with the instance id
and its sha256 (a new revision of an instance is a new row with another hash), so nothing
stale can be served. Per process; thread-safe (filled from worker threads)."""

from __future__ import annotations

from imaging.framecache import SizedLRU


class ByteCache(SizedLRU[bytes]):
    def __init__(self, budget_bytes: int, largest_item: int) -> None:
        super().__init__(budget_bytes, largest_item, len)


FRAMES = ByteCache(96 * 1024 * 1024, largest_item=8 * 1024 * 1024)
PICTURES = ByteCache(32 * 1024 * 1024, largest_item=2 * 1024 * 1024)
