"""The pull-through cache (``proxy``, registry:2's mirror mode) and the outbound guard's networks.

``proxy.remoteurl`` turns the whole registry into a read-only cache of one upstream registry,
as in registry:2; ``proxy.username`` / ``proxy.password`` are the upstream credentials. Beyond
registry:2, ``dockyard.mirror`` says how often a tag is revalidated with the upstream
(``tagttl``, default ``0s``: on every request, as registry:2 does) and how long a tag's last
known digest is served when the upstream cannot be reached (``staleness``).

``dockyard.outbound.allowed`` / ``denied`` are CIDR lists for the outbound guard
(services/outbound/guard.py): upstream registries on private addresses (loopback included) are
refused unless allowed here.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

import msgspec

from dockyard.config.duration import parse_duration
from dockyard.config.errors import ConfigError
from dockyard.config.notifications import OutboundSettings


class MirrorSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    tagttl: str = "0s"  # a tag is revalidated (HEAD upstream) when older than this
    staleness: str = "24h"  # upstream down: a tag's last known digest is served this long
    timeout: str = "30s"  # connecting to, and waiting on, the upstream

    @property
    def tag_ttl_seconds(self) -> float:
        return parse_duration(self.tagttl)

    @property
    def staleness_seconds(self) -> float:
        return parse_duration(self.staleness)

    @property
    def timeout_seconds(self) -> float:
        return parse_duration(self.timeout)


def check_remote_url(url: str) -> None:
    """``proxy.remoteurl``: an http(s) URL with a host and nothing but an optional path."""
    key = "proxy.remoteurl"
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError for a bad port
    except ValueError as exc:
        raise ConfigError(f"{key}: not a valid URL: {exc}", key=key) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f'{key}: expected http(s)://HOST[:PORT], got "{url}"', key=key)
    if parts.username is not None or parts.password is not None:
        raise ConfigError(f"{key}: put credentials in proxy.username/password", key=key)
    if parts.query or parts.fragment or parts.path.rstrip("/"):
        raise ConfigError(f"{key}: no path, query or fragment (the API is at /v2/)", key=key)


def check_mirror(mirror: MirrorSettings) -> None:
    for name in ("tagttl", "staleness", "timeout"):
        key = f"dockyard.mirror.{name}"
        try:
            seconds = parse_duration(getattr(mirror, name))
        except ConfigError as exc:
            raise ConfigError(f"{key}: {exc.message}", key=key) from None
        if seconds < 0 or (name == "timeout" and seconds == 0):
            bound = "above" if name == "timeout" else "at least"
            raise ConfigError(f"{key}: must be {bound} 0", key=key)


def check_outbound(outbound: OutboundSettings) -> None:
    for name in ("allowed", "denied"):
        for index, cidr in enumerate(getattr(outbound, name)):
            try:
                ipaddress.ip_network(str(cidr).strip(), strict=False)
            except ValueError:
                key = f"dockyard.outbound.{name}[{index}]"
                raise ConfigError(f'{key}: not an address or network: "{cidr}"', key=key) from None
