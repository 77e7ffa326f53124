"""Verified logins remembered for a short while, so HTTP Basic on every request does not pay a
bcrypt check or a directory round trip (LDAP) each time, and keeps working through a short
directory outage.

An entry is keyed by the name typed and a SHA-256 of the password (never the password). It
lives its own lifetime, ``seconds`` from the login that verified it: other users' logins and
identity changes elsewhere do not cut it short; when ``capacity`` entries are held, the one
used least recently makes room. It stays only as good as the account behind it: it records
the subject's stamp, which changes with the password, when a user is disabled, when an
htpasswd entry goes or a robot's secret is renewed, and the caller re-resolves the subject
and compares stamps on every use.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

REMEMBER_SECONDS = 60.0
CAPACITY = 10_000


@dataclass(frozen=True, slots=True)
class RememberedLogin:
    subject: str  # the account that logged in (the directory's spelling of the name)
    via: str  # the credential ("" for a password, pat:<id> for a personal access token)
    stamp: str  # the account's stamp when the login was verified
    until: float  # on the ``clock`` of :class:`RememberedLogins`


class RememberedLogins:
    def __init__(
        self,
        seconds: float = REMEMBER_SECONDS,
        capacity: int = CAPACITY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.seconds = seconds
        self.capacity = capacity
        self.clock = clock
        self._entries: OrderedDict[tuple[str, bytes], RememberedLogin] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, name: str, password: str) -> RememberedLogin | None:
        """The login remembered for these credentials, unless it has expired."""
        key = _key(name, password)
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.until <= self.clock():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry

    def remember(self, name: str, password: str, subject: str, via: str, stamp: str) -> None:
        key = _key(name, password)
        self._entries.pop(key, None)
        while len(self._entries) >= self.capacity:
            self._entries.popitem(last=False)  # the least recently used
        self._entries[key] = RememberedLogin(subject, via, stamp, self.clock() + self.seconds)

    def forget(self, name: str, password: str) -> None:
        self._entries.pop(_key(name, password), None)

    def clear(self) -> None:
        self._entries.clear()


def _key(name: str, password: str) -> tuple[str, bytes]:
    return name, hashlib.sha256(password.encode("utf-8", "surrogatepass")).digest()
