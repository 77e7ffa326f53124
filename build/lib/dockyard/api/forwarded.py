"""The real client address behind reverse proxies (``dockyard.trustedproxies``).

A request's address is its TCP peer unless that peer is a trusted proxy (one of the configured
networks). Then ``X-Forwarded-For`` is read from the right: each entry is the address the hop
after it saw, so the first entry that is not itself a trusted proxy is the client (the
rightmost-untrusted rule). Entries left of it were written by the client and are never
believed. Without ``X-Forwarded-For``, a trusted peer's ``X-Real-IP`` is used. With no trusted
networks configured (the default) the headers are ignored entirely, so a client can never
choose the address that login throttling, the audit log and the access log record.

With trusted networks configured, ``X-Forwarded-Host`` and ``X-Forwarded-Proto`` (which build
``Location`` headers and the token realm) are also believed only from a trusted peer: a
direct client's copies are dropped. Without any configured, they are honoured from anyone, as
``registry:2`` does.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from dockyard.api.http import Scope

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_address(text: str) -> Address | None:
    """An address from a header entry (``1.2.3.4``, ``1.2.3.4:5678``, ``[::1]``, ``[::1]:80``,
    ``::1``), IPv4-mapped IPv6 as IPv4; None for anything else (``unknown``, names, junk)."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def parse_networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    """``10.0.0.0/8``, ``127.0.0.1`` (one address), ``::1/128``...; ValueError names a bad one."""
    networks = []
    for cidr in cidrs:
        try:
            networks.append(ipaddress.ip_network(str(cidr).strip(), strict=False))
        except ValueError:
            raise ValueError(f"not an address or network: {cidr!r}") from None
    return tuple(networks)


class TrustedProxies:
    def __init__(self, networks: Sequence[Network]) -> None:
        self.networks = tuple(networks)

    @classmethod
    def from_cidrs(cls, cidrs: Iterable[str]) -> TrustedProxies:
        return cls(parse_networks(cidrs))

    def __bool__(self) -> bool:
        return bool(self.networks)

    def trusts(self, address: Address) -> bool:
        return any(address in network for network in self.networks)

    def client(self, peer: str, forwarded_for: Sequence[str], real_ip: str | None) -> str:
        """The client's address for a request from ``peer`` carrying these header values."""
        hop = parse_address(peer)
        if hop is None or not self.trusts(hop):
            return peer
        entries = [e for value in forwarded_for for e in value.split(",") if e.strip()]
        if not entries:
            forwarded = parse_address(real_ip) if real_ip else None
            return str(forwarded) if forwarded is not None else peer
        for entry in reversed(entries):
            address = parse_address(entry)
            if address is None:  # a trusted hop passed on junk: stop at that hop
                return str(hop)
            hop = address
            if not self.trusts(address):
                return str(address)
        return str(hop)  # every hop is trusted: the leftmost is the client

    def rewrite(self, scope: Scope) -> Scope:
        """``scope`` with ``client`` set to the real client, when a trusted proxy sent it, and
        without the ``X-Forwarded-Host``/``-Proto`` headers of a peer that is not trusted."""
        peer = scope.get("client")
        if not self.networks or not peer:
            return scope
        forwarded: list[str] = []
        real_ip: str | None = None
        url_headers = False
        for name, value in scope["headers"]:
            lowered = name.lower()
            if lowered == b"x-forwarded-for":
                forwarded.append(value.decode("latin-1"))
            elif lowered == b"x-real-ip":
                real_ip = value.decode("latin-1")
            elif lowered in _URL_HEADERS:
                url_headers = True
        if url_headers and not self._trusted_peer(str(peer[0])):
            scope = {**scope, "headers": _without_url_headers(scope["headers"])}
        if not forwarded and real_ip is None:
            return scope
        client = self.client(str(peer[0]), forwarded, real_ip)
        if client == str(peer[0]):
            return scope
        return {**scope, "client": (client, 0)}

    def _trusted_peer(self, peer: str) -> bool:
        address = parse_address(peer)
        return address is not None and self.trusts(address)


_URL_HEADERS = (b"x-forwarded-host", b"x-forwarded-proto")


def _without_url_headers(headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    return [(name, value) for name, value in headers if name.lower() not in _URL_HEADERS]
