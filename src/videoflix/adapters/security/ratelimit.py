"""Fixed-window rate limits, in Redis when configured (shared by every worker) or in process memory."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Protocol

log = logging.getLogger(__name__)
MAX_KEYS = 100_000


class RateLimiter(Protocol):
    async def hit(self, key: str, limit: int, window_seconds: int) -> bool:
        """Count one hit; False when ``key`` is over ``limit`` in the current window."""
        ...


class MemoryRateLimiter:
    def __init__(self) -> None:
        self._windows: dict[str, tuple[int, int]] = {}

    async def hit(self, key: str, limit: int, window_seconds: int) -> bool:
        window = int(time.time() // window_seconds)
        current_window, count = self._windows.get(key, (window, 0))
        if current_window != window:
            count = 0
        if len(self._windows) >= MAX_KEYS and key not in self._windows:
            # Bounded memory: drop every key of an older window; if all are current, start afresh.
            stale = [k for k, (w, _) in self._windows.items() if w != window]
            for k in stale or list(self._windows):
                del self._windows[k]
        self._windows[key] = (window, count + 1)
        return count + 1 <= limit


class RedisRateLimiter:
    """INCR + EXPIRE in one round trip. If Redis is down, fall back to per-process counting (R2)."""

    def __init__(self, redis) -> None:  # type: ignore[no-untyped-def]
        self._redis = redis
        self._fallback = MemoryRateLimiter()

    async def hit(self, key: str, limit: int, window_seconds: int) -> bool:
        window = int(time.time() // window_seconds)
        redis_key = f"videoflix:rl:{key}:{window}"
        try:
            async with asyncio.timeout(0.5):
                pipe = self._redis.pipeline(transaction=False)
                pipe.incr(redis_key)
                pipe.expire(redis_key, window_seconds + 1)
                count, _ = await pipe.execute()
        except Exception as error:
            log.warning("rate limiter: Redis unavailable (%s), counting in process", type(error).__name__)
            return await self._fallback.hit(key, limit, window_seconds)
        return int(count) <= limit
