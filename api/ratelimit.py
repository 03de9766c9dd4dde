"""Rate limits that hold across web replicas: fixed-window counters in the app database, or
in Redis when ``AIMIS_REDIS_URL`` is set.

A caller *takes* one unit before the work it limits and, when the work turns out not to
count (a login whose password was right), *gives it back*. Taking is one atomic step (an
``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` upsert, or one Redis script), so fifty
concurrent wrong passwords from one address pass exactly the budget and no more: a
check-then-count would let them all through before the first is counted.

A window starts at the first unit taken for a key and lasts the rule's seconds. Keys hold
the rule's name and a hash of the subject (an address, an account name): no phone number or
address is stored in clear. Why not the ``limits`` library: it has no SQL storage (one could
be written against its storage interface), its strategies have no give-back (ours counts
failures, decided after the unit is taken), and its Redis extra pins ``redis<8``; the two
backends here are a few lines each and behave the same.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import time
from dataclasses import dataclass
from typing import Any, Protocol

from kernel.i18n import Msg
from kernel.settings import get_settings
from store.tables import RateLimit

log = logging.getLogger(__name__)

SWEEP_EVERY_SECONDS = 600  # expired database rows are deleted at most this often


@dataclass(frozen=True)
class Rule:
    name: str
    limit: int
    seconds: int


@dataclass(frozen=True)
class Taken:
    key: str
    count: int  # units in the window, this one included
    limit: int
    window_end_ms: int

    @property
    def allowed(self) -> bool:
        return self.count <= self.limit

    @property
    def retry_after(self) -> int:
        """Whole seconds until the window ends (at least 1)."""
        return max(1, math.ceil((self.window_end_ms - now_ms()) / 1000))


class Counter(Protocol):
    async def take(self, key: str, seconds: int) -> tuple[int, int]:
        """Count one unit; returns (count in the window, window end in Unix ms)."""
        ...

    async def give_back(self, key: str, window_end_ms: int) -> None:
        """Uncount one unit, only if its window is still the current one."""
        ...

    async def clear(self, key: str) -> None:
        """Forget the key's window (an administrator gave the account its tries back)."""
        ...


def now_ms() -> int:
    return int(time.time() * 1000)


class DatabaseCounter:
    """Counters in ``rate_limit``: one upsert per unit, the same SQL on both databases
    (SQLite ≥ 3.35 and PostgreSQL both have ``ON CONFLICT ... DO UPDATE ... RETURNING``;
    every expression on the right of ``SET`` reads the row as it was)."""

    def __init__(self) -> None:
        self._swept = 0.0

    async def take(self, key: str, seconds: int) -> tuple[int, int]:
        at = now_ms()
        rows = await RateLimit.raw(
            'INSERT INTO rate_limit ("key", hits, window_end_ms) VALUES ({}, 1, {}) '
            'ON CONFLICT ("key") DO UPDATE SET '
            "hits = CASE WHEN rate_limit.window_end_ms <= {} THEN 1 "
            "ELSE rate_limit.hits + 1 END, "
            "window_end_ms = CASE WHEN rate_limit.window_end_ms <= {} "
            "THEN excluded.window_end_ms ELSE rate_limit.window_end_ms END "
            "RETURNING hits, window_end_ms",
            key,
            at + seconds * 1000,
            at,
            at,
        )
        await self._sweep(at)
        return int(rows[0]["hits"]), int(rows[0]["window_end_ms"])

    async def give_back(self, key: str, window_end_ms: int) -> None:
        await RateLimit.raw(
            "UPDATE rate_limit SET hits = hits - 1 "
            'WHERE "key" = {} AND window_end_ms = {} AND hits > 0',
            key,
            window_end_ms,
        )

    async def clear(self, key: str) -> None:
        await RateLimit.delete().where(RateLimit.key == key)

    async def _sweep(self, at: int) -> None:
        if time.monotonic() - self._swept < SWEEP_EVERY_SECONDS:
            return
        self._swept = time.monotonic()
        try:
            await RateLimit.delete().where(RateLimit.window_end_ms < at)
        except Exception:  # a busy database: the next sweep takes them
            log.warning("could not delete expired rate-limit rows", exc_info=True)


# KEYS[1] the counter; ARGV[1] the window in ms. The expiry is set with the first unit, so
# a key never outlives its window, and the count and the time left come back in one trip.
_TAKE = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local left = redis.call('PTTL', KEYS[1])
if left < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); left = tonumber(ARGV[1]) end
return {count, left}
"""
# ARGV[1] the window end the unit was taken in; a window that has ended is not touched.
_GIVE_BACK = """
if redis.call('EXISTS', KEYS[1]) == 1 and tonumber(ARGV[1]) > tonumber(ARGV[2]) then
  return redis.call('DECR', KEYS[1])
end
return 0
"""


class RedisCounter:
    """Counters in Redis under ``<AIMIS_REDIS_PREFIX>:ratelimit:``; each step one script."""

    def __init__(self, url: str, prefix: str) -> None:
        from redis.asyncio import Redis

        self.redis: Any = Redis.from_url(url)
        self.prefix = f"{prefix}:ratelimit:"
        self._take = self.redis.register_script(_TAKE)
        self._give_back = self.redis.register_script(_GIVE_BACK)

    async def take(self, key: str, seconds: int) -> tuple[int, int]:
        count, left = await self._take(keys=[self.prefix + key], args=[seconds * 1000])
        return int(count), now_ms() + int(left)

    async def give_back(self, key: str, window_end_ms: int) -> None:
        await self._give_back(keys=[self.prefix + key], args=[window_end_ms, now_ms()])

    async def clear(self, key: str) -> None:
        await self.redis.delete(self.prefix + key)


_counter: Counter | None = None


def counter() -> Counter:
    """This process's counter store, from the settings."""
    global _counter
    if _counter is None:
        settings = get_settings()
        _counter = (
            RedisCounter(settings.redis.url, settings.redis.prefix)
            if settings.redis.url
            else DatabaseCounter()
        )
    return _counter


def subject_key(name: str, subject: str) -> str:
    return f"{name}:{hashlib.sha256(subject.encode()).hexdigest()[:40]}"


async def take(rule: Rule, subject: str) -> Taken:
    key = subject_key(rule.name, subject)
    count, window_end_ms = await counter().take(key, rule.seconds)
    return Taken(key, count, rule.limit, window_end_ms)


async def give_back(taken: Taken) -> None:
    await counter().give_back(taken.key, taken.window_end_ms)


async def clear(name: str, subject: str) -> None:
    await counter().clear(subject_key(name, subject))


def address_subject(ip: str) -> str:
    """The address a budget is kept for: an IPv6 client by its /64 (one subscriber's
    network: anyone holding one has 2^64 addresses to rotate through)."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def wait_words(seconds: int) -> Msg:
    """How long to wait (translated with the sentence that says it)."""
    if seconds < 60:
        return Msg("{n} seconds", n=seconds)
    minutes = math.ceil(seconds / 60)
    return Msg("{n} minutes", n=minutes) if minutes > 1 else Msg("{n} minute", n=minutes)
