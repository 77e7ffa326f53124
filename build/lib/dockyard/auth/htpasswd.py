"""Credentials from an Apache htpasswd file with bcrypt entries (``htpasswd -B``).

The file is re-read when it changes (its modification time in nanoseconds, size or inode: an
editor that replaces the file, or a rewrite of the same size, is noticed). bcrypt is slow on
purpose (tens of milliseconds), so it runs on a worker thread and successful checks are
remembered for a short while, keyed by a SHA-256 of the password, never the password itself. A
name the file does not hold is checked against a dummy hash of the file's cost, so timing does
not tell who exists.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time

import bcrypt

from dockyard.auth.secrets import dummy_hash

CACHE_SECONDS = 60.0


class HtpasswdFile:
    def __init__(self, path: str) -> None:
        self.path = path
        self._entries: dict[str, bytes] = {}
        self._stamp: tuple[int, int, int] | None = None
        self._verified: dict[tuple[str, bytes], float] = {}

    def _reload(self) -> None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self._entries, self._stamp = {}, None
            return
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        if stamp == self._stamp:
            return
        self._entries = _parse(self.path)
        self._stamp = stamp
        self._verified.clear()

    async def verify(self, username: str, password: str) -> bool:
        self._reload()
        hashed = self._entries.get(username)
        if hashed is None:
            await asyncio.to_thread(_check, password.encode(), self._dummy())
            return False
        key = (username, hashlib.sha256(password.encode()).digest())
        now = time.monotonic()
        if self._verified.get(key, 0.0) > now:
            return True
        ok = await asyncio.to_thread(_check, password.encode(), hashed)
        if ok:
            self._verified[key] = now + CACHE_SECONDS
        return ok

    def _dummy(self) -> bytes:
        """A hash of a random password, at the cost of the file's first entry."""
        first = next(iter(self._entries.values()), b"$2b$05$")
        cost = int(first[4:6]) if first[4:6].isdigit() else 5
        return dummy_hash(min(max(cost, 4), 16)).encode()

    def stamp(self, username: str) -> str | None:
        """A fingerprint of the user's entry (None once removed); a new password changes it."""
        self._reload()
        hashed = self._entries.get(username)
        return None if hashed is None else _fingerprint(hashed)

    def file_stamp(self) -> tuple[int, int, int] | None:
        """What tells one version of the file from another (None: there is no file)."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def fingerprints(self) -> dict[str, str]:
        """Every user of the file as it is now, with the fingerprint :meth:`stamp` gives."""
        try:
            entries = _parse(self.path)
        except FileNotFoundError:
            return {}
        return {user: _fingerprint(hashed) for user, hashed in entries.items()}


def _fingerprint(hashed: bytes) -> str:
    return hashlib.sha256(hashed).hexdigest()[:32]


def _check(password: bytes, hashed: bytes) -> bool:
    try:
        return bool(bcrypt.checkpw(password, hashed))
    except ValueError:
        return False


def _parse(path: str) -> dict[str, bytes]:
    entries: dict[str, bytes] = {}
    with open(path, encoding="utf-8") as handle:
        for raw in handle:
            line = raw.strip()
            if not line or line.startswith("#") or ":" not in line:
                continue
            user, _, hashed = line.partition(":")
            if hashed.startswith(("$2y$", "$2a$", "$2b$")):
                entries[user] = hashed.replace("$2y$", "$2b$", 1).encode()
    return entries
