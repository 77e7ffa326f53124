"""Registry auth challenges (``WWW-Authenticate``) and bearer tokens kept per scope.

A registry answers 401 with ``Basic realm=...`` or ``Bearer realm=...,service=...,scope=...``;
for a bearer challenge the client asks the realm (a token service, often on another host) for
a token for that scope and keeps it until shortly before it expires.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

_PARAM = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?')
DEFAULT_TOKEN_SECONDS = 60.0  # the Docker token spec's default when expires_in is absent
EXPIRY_MARGIN = 0.9  # a token is used for 90% of its life, so it never expires in flight
MAX_TOKENS = 1024


@dataclass(frozen=True, slots=True)
class Challenge:
    scheme: str  # "basic" or "bearer" (lower case)
    params: dict[str, str] = field(default_factory=dict)

    @property
    def realm(self) -> str:
        return self.params.get("realm", "")


def parse_challenge(header: str) -> Challenge | None:
    """The first challenge in a ``WWW-Authenticate`` value; None when it is not one."""
    scheme, _, rest = header.strip().partition(" ")
    if not scheme or not scheme.isalpha():
        return None
    params: dict[str, str] = {}
    for found in _PARAM.finditer(rest):
        quoted, bare = found.group(2), found.group(3)
        value = quoted.replace('\\"', '"') if quoted is not None else bare or ""
        params[found.group(1).lower()] = value
    return Challenge(scheme.lower(), params)


class TokenCache:
    """Bearer tokens by scope, each until 90% of its lifetime has passed."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._tokens: dict[str, tuple[str, float]] = {}

    def get(self, scope: str) -> str | None:
        found = self._tokens.get(scope)
        if found is None:
            return None
        token, until = found
        if self.clock() >= until:
            del self._tokens[scope]
            return None
        return token

    def put(self, scope: str, token: str, expires_in: float | None) -> None:
        lifetime = expires_in if expires_in and expires_in > 0 else DEFAULT_TOKEN_SECONDS
        if len(self._tokens) >= MAX_TOKENS:
            self._tokens.clear()  # a bounded cache; tokens are cheap to fetch again
        self._tokens[scope] = (token, self.clock() + lifetime * EXPIRY_MARGIN)

    def forget(self, scope: str) -> None:
        self._tokens.pop(scope, None)


def pull_scope(repository: str) -> str:
    return f"repository:{repository}:pull"
