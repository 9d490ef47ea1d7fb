"""argon2id password hashing, off the event loop and with bounded concurrency."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# OWASP's argon2id floor (m=19 MiB, t=2, p=1): fast enough for many logins on two cores, and S1-compliant.
MEMORY_COST_KIB = 19456
TIME_COST = 2
PARALLELISM = 1
HASHING_NICENESS = 10
T = TypeVar("T")


def _yield_to_requests() -> None:
    """Run hashing threads at a lower CPU priority (Linux schedules threads one by one): under a burst of logins
    the event loop still gets the cores first, so browsing and streaming stay fast while logins wait a little."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASHING_NICENESS)


class Argon2PasswordHasher:
    """Each hash costs ~19 MiB and some CPU: run them in a small dedicated pool so the loop stays free."""

    def __init__(
        self,
        max_workers: int = 2,
        memory_cost: int = MEMORY_COST_KIB,
        time_cost: int = TIME_COST,
        parallelism: int = PARALLELISM,
    ) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism, type=Type.ID
        )
        self._pool = ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix="argon2", initializer=_yield_to_requests
        )
        self._dummy_hash: str | None = None  # made on first use: start-up stays fast

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def hash(self, password: str) -> str:
        return await self._run(self._hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        return await self._run(self._verify_sync, password_hash, password)

    async def verify_dummy(self, password: str) -> None:
        if self._dummy_hash is None:
            self._dummy_hash = await self.hash("videoflix-dummy-password")
        await self._run(self._verify_sync, self._dummy_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True

    def _verify_sync(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
