"""Requests pinned to the address the outbound guard approved (DNS-rebinding safe).

A URL's host is looked up once, by the guard (``guard.check_url``); the request then goes to
one of the addresses that check approved, never to a second lookup of the name (which a
rebinding DNS server could answer differently). The URL's host stays in ``Host`` and, for
https, in the TLS server name (SNI and the certificate check), so the receiver sees the
request it expects.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from dockyard.services.outbound.guard import IPAddress


@dataclass(frozen=True, slots=True)
class PinnedTarget:
    """Where to connect (the approved address), and what to tell the server."""

    url: str
    host_header: str
    extensions: dict[str, Any]


def pinned(url: str, address: IPAddress) -> PinnedTarget:
    """``url`` with its host replaced by ``address``; the name kept for Host and TLS."""
    parts = urlsplit(url)
    hostname = parts.hostname or ""
    literal = f"[{address}]" if isinstance(address, ipaddress.IPv6Address) else str(address)
    netloc = literal if parts.port is None else f"{literal}:{parts.port}"
    host_header = parts.netloc.rpartition("@")[2]
    extensions: dict[str, Any] = {}
    if parts.scheme == "https":
        extensions["sni_hostname"] = hostname
    return PinnedTarget(urlunsplit(parts._replace(netloc=netloc)), host_header, extensions)
