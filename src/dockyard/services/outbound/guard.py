"""The outbound guard: may dockyard connect to this URL's host?

A URL given by a user (a project webhook, an upstream registry) could point dockyard at
addresses it should never reach on that user's behalf: a cloud metadata service
(169.254.169.254), link-local neighbours, or, for upstream registries, the operator's private
network. The guard resolves the host and refuses the URL when any address it resolves to is
denied, so a name that resolves to both a public and a denied address is refused too.

Always denied unless the operator allows them explicitly (``allowed`` networks): link-local,
metadata addresses, unspecified, multicast and broadcast addresses. Denied when
``deny_private`` is set: loopback, RFC 1918 and unique-local ranges, shared address space
(100.64.0.0/10) and the other reserved ranges. ``denied`` adds networks of the operator's own.

Checking the resolved addresses right before connecting, and then connecting to one of those
very addresses (``services/webhooks/sender.py``, ``pinned``), is what closes DNS rebinding:
callers check at send time, not only when the URL is saved, and never look the name up twice.
A policy may carry its own ``resolver`` (tests drive a name that changes its answer with it);
by default the system's resolver answers.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeAlias
from urllib.parse import urlsplit

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver: TypeAlias = Callable[[str, int], Awaitable[tuple[IPAddress, ...]]]

METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    ipaddress.ip_address(text)
    for text in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean
        "169.254.170.2",  # AWS ECS task metadata
        "fd00:ec2::254",  # AWS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud (classic)
    )
)
SCHEMES = frozenset({"http", "https"})


class OutboundRefusedError(Exception):
    """The URL may not be reached; the message says why, fit to show its owner."""


@dataclass(frozen=True, slots=True)
class OutboundPolicy:
    deny_private: bool = False  # webhooks: private targets are normal; upstreams: not
    allowed: tuple[IPNetwork, ...] = ()  # the operator's exceptions; win over every rule
    denied: tuple[IPNetwork, ...] = ()  # the operator's own additions
    resolver: Resolver | None = field(default=None, compare=False)  # None: the system's

    @classmethod
    def from_strings(
        cls, *, deny_private: bool, allowed: Sequence[str] = (), denied: Sequence[str] = ()
    ) -> OutboundPolicy:
        """A policy from CIDR strings (config values); ``ValueError`` names a bad one."""
        return cls(deny_private, _networks(allowed), _networks(denied))

    async def addresses_of(self, host: str, port: int) -> tuple[IPAddress, ...]:
        """What ``host`` resolves to now, by this policy's resolver (a literal is itself)."""
        try:
            return (ipaddress.ip_address(host),)
        except ValueError:
            pass
        if self.resolver is None:
            return await resolve(host, port)
        found = await self.resolver(host, port)
        if not found:
            raise OutboundRefusedError(f"{host} resolves to no address")
        return found


def _networks(texts: Sequence[str]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(text.strip(), strict=False) for text in texts)


def refusal(address: IPAddress, policy: OutboundPolicy) -> str | None:
    """Why ``address`` is denied under ``policy``, or None when it may be reached."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address in network for network in policy.allowed):
        return None
    if any(address in network for network in policy.denied):
        return "denied by the operator"
    reason = _always_denied(address)
    if reason is None and policy.deny_private and not address.is_global:
        reason = "a private or reserved address"
    return reason


def _always_denied(address: IPAddress) -> str | None:
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_multicast:
        return "a multicast address"
    if address == ipaddress.IPv4Address("255.255.255.255"):
        return "the broadcast address"
    return None


def url_host(url: str) -> tuple[str, int]:
    """The host and port ``url`` connects to; ``OutboundRefusedError`` for anything but http(s)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise OutboundRefusedError(f"not a valid URL: {exc}") from None
    if parts.scheme not in SCHEMES:
        raise OutboundRefusedError("only http and https URLs are allowed")
    if not parts.hostname:
        raise OutboundRefusedError("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise OutboundRefusedError("credentials in the URL are not allowed; use headers")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


async def check_url(url: str, policy: OutboundPolicy) -> tuple[IPAddress, ...]:
    """The addresses ``url``'s host resolves to, all allowed; else ``OutboundRefusedError``."""
    host, port = url_host(url)
    addresses = await policy.addresses_of(host, port)
    for address in addresses:
        reason = refusal(address, policy)
        if reason is not None:
            raise OutboundRefusedError(f"{host} resolves to {address}, {reason}")
    return addresses


async def resolve(host: str, port: int) -> tuple[IPAddress, ...]:
    """Every address ``host`` resolves to (a literal address is itself)."""
    try:
        return (ipaddress.ip_address(host),)
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise OutboundRefusedError(f"cannot resolve {host}: {exc}") from None
    found = {ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos}
    if not found:
        raise OutboundRefusedError(f"{host} resolves to no address")
    return tuple(sorted(found, key=lambda address: (address.version, int(address))))
