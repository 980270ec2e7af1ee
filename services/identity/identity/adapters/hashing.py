"""argon2id hashing in a thread pool, so the event loop keeps serving while the CPU hashes
(argon2-cffi releases the GIL: one worker per core hashes in parallel)."""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


@dataclass(frozen=True)
class Argon2Parameters:
    """OWASP's argon2id floor: 19 MiB, t=2, p=1."""

    memory_kib: int = 19456
    time_cost: int = 2
    parallelism: int = 1


class Argon2Hasher:
    """Hash and verify secrets with argon2id off the event loop."""

    def __init__(self, params: Argon2Parameters | None = None, workers: int = 0) -> None:
        self.params = params or Argon2Parameters()
        self._hasher = PasswordHasher(
            time_cost=self.params.time_cost,
            memory_cost=self.params.memory_kib,
            parallelism=self.params.parallelism,
            hash_len=32,
            salt_len=16,
            type=Type.ID,
        )
        self.workers = workers or os.cpu_count() or 1
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="argon2")
        self._dummy: str | None = None

    async def hash(self, secret: str) -> str:
        """The encoded argon2id hash of ``secret`` (salted)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._hasher.hash, secret)

    async def verify(self, encoded: str | None, secret: str) -> bool:
        """True when ``secret`` matches ``encoded``. With no hash (unknown account) a dummy
        hash is still verified, so the answer takes as long as for a real account."""
        loop = asyncio.get_running_loop()
        if not encoded:
            if self._dummy is None:
                self._dummy = await self.hash("dummy password for timing equalisation")
            encoded = self._dummy
            secret = secret + "\x00"  # never matches
        return await loop.run_in_executor(self._pool, self._verify_sync, encoded, secret)

    def _verify_sync(self, encoded: str, secret: str) -> bool:
        try:
            return self._hasher.verify(encoded, secret)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, encoded: str) -> bool:
        """True when ``encoded`` was made with other parameters than the current ones."""
        try:
            return self._hasher.check_needs_rehash(encoded)
        except (InvalidHashError, ValueError):
            return True

    def close(self) -> None:
        """Stop the worker threads."""
        self._pool.shutdown(wait=False, cancel_futures=True)
