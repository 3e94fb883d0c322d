"""argon2id hashing, always in a worker thread so the event loop never stalls on it."""

from __future__ import annotations

import asyncio
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# OWASP's minimum for argon2id: 19 MiB, 2 passes, 1 lane.
MEMORY_KIB = 19 * 1024
TIME_COST = 2
PARALLELISM = 1


class Passwords:
    """Hash and verify. `verify(None, ...)` checks against a dummy hash, so that an
    unknown account costs the same time as a wrong password."""

    def __init__(self, dummy_hash: str) -> None:
        self._hasher = _hasher()
        self._dummy_hash = dummy_hash

    @classmethod
    async def create(cls) -> Passwords:
        dummy = await asyncio.to_thread(_hasher().hash, secrets.token_urlsafe(24))
        return cls(dummy)

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        candidate = self._dummy_hash if password_hash is None else password_hash
        matched = await asyncio.to_thread(self._verify, candidate, password)
        return matched and password_hash is not None

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False


def _hasher() -> PasswordHasher:
    return PasswordHasher(time_cost=TIME_COST, memory_cost=MEMORY_KIB, parallelism=PARALLELISM)
