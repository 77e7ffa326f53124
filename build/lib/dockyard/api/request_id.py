"""Request ids: a client's ``X-Request-Id`` when it is a sane token, else one of our own.

The id is echoed in a response header and written to the access log as given, so it is
bounded: at most ``MAX_LENGTH`` characters, all of them HTTP token characters (RFC 9110
``tchar``: printable ASCII without spaces, quotes, separators or control characters).
"""

from __future__ import annotations

import itertools
import re
import secrets

MAX_LENGTH = 128
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def acceptable(candidate: str | None) -> bool:
    """Whether a client's id may be used (and logged, and echoed) as it is."""
    return (
        candidate is not None
        and 0 < len(candidate) <= MAX_LENGTH
        and _TOKEN.fullmatch(candidate) is not None
    )


class RequestIds:
    """Our own ids: unique across processes (random prefix) and cheap (a counter), 16 hex."""

    def __init__(self) -> None:
        self._prefix = secrets.token_hex(4)
        self._counter = itertools.count(1)

    def new(self) -> str:
        return f"{self._prefix}{next(self._counter):08x}"

    def for_request(self, given: str | None) -> str:
        """The client's id when :func:`acceptable`, otherwise a new one."""
        if given is not None and acceptable(given):
            return given
        return self.new()
