"""LDAP search filters built from configured templates and untrusted values (RFC 4515).

A template such as ``(&(objectClass=person)(uid={username}))`` gets its placeholders replaced
in ONE pass by values escaped as filter assertion values, so a login name like ``*)(uid=*``
matches only an entry literally named that, and a value that itself contains ``{dn}`` is never
expanded again. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_PLACEHOLDER = re.compile(r"\{(username|dn)\}")
# RFC 4515: NUL, "(", ")", "*" and "\" must be escaped; control characters are escaped too
# so that nothing invisible reaches the server's filter parser.
_SPECIAL = frozenset("\\*()\x00") | frozenset(chr(c) for c in (*range(0x20), 0x7F))


def escape_filter_value(value: str) -> str:
    r"""``value`` as an LDAP filter assertion value: ``*`` -> ``\2a``, ``(`` -> ``\28`` ..."""
    return "".join(f"\\{ord(ch):02x}" if ch in _SPECIAL else ch for ch in value)


def build_filter(template: str, values: Mapping[str, str]) -> str:
    """``template`` with each ``{name}`` replaced by ``values[name]``, escaped."""

    def substitute(match: re.Match[str]) -> str:
        return escape_filter_value(values[match.group(1)])

    return _PLACEHOLDER.sub(substitute, template)
