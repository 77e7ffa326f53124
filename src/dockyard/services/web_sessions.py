"""Web UI sessions kept in the metadata database, so every process and node knows them.

A session is a random id (256 bits) the browser holds; the database keeps only its SHA-256
with who signed in (``subject``, and ``via``: how the principal is found again), the CSRF
token, when it started and when it was last used. It ends at ``lifetime`` after sign-in, after
``idle`` without use, or when ended (sign-out). The last use is written at most once every
``touch_every`` seconds (a minute, or a quarter of ``idle`` if shorter), so a page view is
usually a read only. Expired sessions are deleted now and then when a new one starts.

The key that signs the cookies (``signing_key``) is stored once in the database: the first
process to ask makes it, all others read the same.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from dockyard.persistence.records import UiSessionRecord

PRUNE_EVERY = 300.0
KEY_NAME = "cookie-signing"


class WebSessionStore(Protocol):
    async def signing_key(self, name: str, candidate: str) -> str: ...
    async def create(self, record: UiSessionRecord) -> None: ...
    async def get(self, id_hash: str) -> UiSessionRecord | None: ...
    async def touch(self, id_hash: str, now: float) -> None: ...
    async def delete(self, id_hash: str) -> bool: ...
    async def prune(self, now: float, seen_before: float) -> int: ...


@dataclass(frozen=True, slots=True)
class WebSession:
    id: str
    subject: str
    via: str
    csrf: str
    started: float


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class WebSessions:
    def __init__(
        self, store: WebSessionStore, *, lifetime: float, idle: float,
        clock: Callable[[], float] = time.time,
    ) -> None:  # fmt: skip
        self.store = store
        self.lifetime = lifetime
        self.idle = idle
        self.touch_every = min(60.0, idle / 4)
        self.clock = clock
        self._key: bytes | None = None
        self._pruned = float("-inf")

    async def signing_key(self) -> bytes:
        if self._key is None:
            stored = await self.store.signing_key(KEY_NAME, secrets.token_urlsafe(48))
            self._key = stored.encode()
        return self._key

    async def start(self, subject: str, via: str) -> WebSession:
        now = self.clock()
        await self._prune(now)
        session = WebSession(secrets.token_urlsafe(32), subject, via, secrets.token_urlsafe(32),
                             now)  # fmt: skip
        await self.store.create(UiSessionRecord(_hash(session.id), subject, via, session.csrf,
                                                now, now, now + self.lifetime))  # fmt: skip
        return session

    async def find(self, session_id: str) -> WebSession | None:
        """The live session with this id (its last use moved forward), or None."""
        record = await self.store.get(_hash(session_id))
        if record is None:
            return None
        now = self.clock()
        if now >= record.expires_at or now - record.last_seen >= self.idle:
            await self.store.delete(record.id_hash)
            return None
        if now - record.last_seen >= self.touch_every:
            await self.store.touch(record.id_hash, now)
        return WebSession(session_id, record.subject, record.via, record.csrf, record.started_at)

    async def end(self, session_id: str) -> None:
        await self.store.delete(_hash(session_id))

    async def _prune(self, now: float) -> None:
        if now - self._pruned >= PRUNE_EVERY:
            self._pruned = now
            await self.store.prune(now, now - self.idle)
