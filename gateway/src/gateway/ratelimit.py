"""Fixed-window rate limits, in Redis (shared by every gateway replica) or in memory (one process).

A counter per key and window: ``hit(key, limit, window)`` adds one request and says whether it is within the
limit and, if not, how many seconds remain until the window ends (the ``Retry-After``). In Redis, one Lua
script does INCR and PEXPIRE atomically, so two replicas can never both take the last slot, and a key never
lives without an expiry.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio as aioredis


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: int
    """Whole seconds until the window resets (at least 1 when refused)."""


class RateLimiter(Protocol):
    async def hit(self, key: str, limit: int, window: float) -> Decision: ...

    async def aclose(self) -> None: ...


class MemoryRateLimiter:
    """Counters in this process; expired windows are swept as new ones start."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self._counters: dict[str, tuple[float, int]] = {}
        self._max_keys = max_keys

    async def hit(self, key: str, limit: int, window: float) -> Decision:
        now = time.monotonic()
        started, count = self._counters.get(key, (now, 0))
        if now - started >= window:
            started, count = now, 0
        count += 1
        if key not in self._counters and len(self._counters) >= self._max_keys:
            self._sweep(now, window)
        self._counters[key] = (started, count)
        if count <= limit:
            return Decision(True, 0)
        return Decision(False, max(1, math.ceil(started + window - now)))

    def _sweep(self, now: float, window: float) -> None:
        self._counters = {k: v for k, v in self._counters.items() if now - v[0] < window}
        if len(self._counters) >= self._max_keys:  # still full of live keys: forget the oldest half
            oldest = sorted(self._counters.items(), key=lambda item: item[1][0])[: self._max_keys // 2]
            for stale, _ in oldest:
                del self._counters[stale]

    async def aclose(self) -> None:
        self._counters.clear()


_HIT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
"""


class RedisRateLimiter:
    """Counters in Redis under ``prefix``; if Redis fails the request is let through (and logged)."""

    def __init__(self, url: str, prefix: str) -> None:
        self._redis = aioredis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._script = self._redis.register_script(_HIT)
        self._prefix = prefix

    async def hit(self, key: str, limit: int, window: float) -> Decision:
        count, ttl_ms = await self._script(keys=[self._prefix + key], args=[int(window * 1000)])
        if int(count) <= limit:
            return Decision(True, 0)
        return Decision(False, max(1, math.ceil(int(ttl_ms) / 1000)))

    async def aclose(self) -> None:
        await self._redis.aclose()
