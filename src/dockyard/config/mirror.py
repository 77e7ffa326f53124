"""The pull-through cache (``proxy``, registry:2's mirror mode) and the outbound guard's networks.

``proxy.remoteurl`` turns the whole registry into a read-only cache of one upstream registry,
as in registry:2; ``proxy.username`` / ``proxy.password`` are the upstream credentials. Beyond
registry:2, ``dockyard.mirror`` says how often a tag is revalidated with the upstream
(``tagttl``, default ``0s``: on every request, as registry:2 does) and how long a tag's last
known digest is served when the upstream cannot be reached (``staleness``).

``dockyard.mirror.upstreams`` adds caches of further upstreams, each under a repository prefix
of its own (``hub/library/alpine`` is ``library/alpine`` of the upstream mapped to ``hub``), on
a registry that stays an ordinary registry elsewhere; more can be added at run time through
``/api/v1/mirrors`` (kept in the database). ``breaker`` tunes the circuit breaker.

``dockyard.outbound.allowed`` / ``denied`` are CIDR lists for the outbound guard
(services/outbound/guard.py): upstream registries on private addresses (loopback included) are
refused unless allowed here.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.parse import urlsplit

import msgspec

from dockyard.config.duration import parse_duration
from dockyard.config.errors import ConfigError
from dockyard.config.notifications import OutboundSettings

UPSTREAM_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
PREFIX = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
NAMESPACE = re.compile(r"[A-Za-z0-9.-]{1,253}(?::[0-9]{1,5})?")
PREFIX_MAX = 128


class BreakerSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    failures: int = 3  # connection failures (or 5xx) in a row that open the circuit
    cooldown: str = "10s"  # how long it stays open before one request is let through

    @property
    def cooldown_seconds(self) -> float:
        return parse_duration(self.cooldown)


class UpstreamSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One more upstream, cached under ``prefix`` (``dockyard.mirror.upstreams[]``)."""

    name: str
    prefix: str  # local repositories prefix/... are the upstream's (remoteprefix/)...
    url: str
    remoteprefix: str = ""  # prepended to the rest of the name upstream (e.g. "library")
    namespaces: list[str] = []  # registry hosts the OCI ?ns= parameter names (docker.io)
    username: str = ""
    password: str = ""
    tagttl: str = ""  # empty: dockyard.mirror.tagttl
    staleness: str = ""  # empty: dockyard.mirror.staleness
    breaker: BreakerSettings | None = None  # None: dockyard.mirror.breaker
    ttl: str = ""  # cached manifests not pulled for this long are removed; empty: kept


class MirrorSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    tagttl: str = "0s"  # a tag is revalidated (HEAD upstream) when older than this
    staleness: str = "24h"  # upstream down: a tag's last known digest is served this long
    timeout: str = "30s"  # connecting to, and waiting on, the upstream
    breaker: BreakerSettings = msgspec.field(default_factory=BreakerSettings)
    upstreams: list[UpstreamSettings] = []  # caches under repository prefixes

    @property
    def tag_ttl_seconds(self) -> float:
        return parse_duration(self.tagttl)

    @property
    def staleness_seconds(self) -> float:
        return parse_duration(self.staleness)

    @property
    def timeout_seconds(self) -> float:
        return parse_duration(self.timeout)


def check_remote_url(url: str, key: str = "proxy.remoteurl") -> None:
    """``proxy.remoteurl``: an http(s) URL with a host and nothing but an optional path."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError for a bad port
    except ValueError as exc:
        raise ConfigError(f"{key}: not a valid URL: {exc}", key=key) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f'{key}: expected http(s)://HOST[:PORT], got "{url}"', key=key)
    if parts.username is not None or parts.password is not None:
        where = "proxy.username/password" if key == "proxy.remoteurl" else "username/password"
        raise ConfigError(f"{key}: put credentials in {where}, not in the URL", key=key)
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
    check_breaker(mirror.breaker, "dockyard.mirror.breaker")
    check_upstream_set(mirror.upstreams)


def check_breaker(breaker: BreakerSettings, key: str) -> None:
    if not 1 <= breaker.failures <= 1000:
        raise ConfigError(f"{key}.failures: must be 1 to 1000", key=f"{key}.failures")
    _duration(f"{key}.cooldown", breaker.cooldown, positive=True)


def check_upstream(upstream: UpstreamSettings, key: str) -> None:
    """One upstream's own keys (the set's consistency is :func:`check_upstream_set`'s)."""
    if not UPSTREAM_NAME.fullmatch(upstream.name):
        raise ConfigError(f"{key}.name: lower case letters, digits, . _ - (64 at most)", key=key)
    check_prefix(upstream.prefix, f"{key}.prefix", empty=False)
    check_prefix(upstream.remoteprefix, f"{key}.remoteprefix", empty=True)
    check_remote_url(upstream.url, f"{key}.url")
    for index, host in enumerate(upstream.namespaces):
        if not NAMESPACE.fullmatch(host):
            name = f"{key}.namespaces[{index}]"
            raise ConfigError(f'{name}: not a registry host: "{host[:80]}"', key=name)
    if bool(upstream.username) != bool(upstream.password):
        name = f"{key}.username"
        raise ConfigError(f"{name}: username and password must be set together", key=name)
    for field in ("tagttl", "staleness", "ttl"):
        if getattr(upstream, field):
            _duration(f"{key}.{field}", getattr(upstream, field), positive=False)
    if upstream.breaker is not None:
        check_breaker(upstream.breaker, f"{key}.breaker")


def check_prefix(prefix: str, key: str, *, empty: bool) -> None:
    if not prefix and empty:
        return
    if len(prefix) > PREFIX_MAX or not PREFIX.fullmatch(prefix):
        message = "lower-case repository name components separated by '/'"
        raise ConfigError(f'{key}: {message}, got "{prefix[:80]}"', key=key)


def check_upstream_set(upstreams: list[UpstreamSettings]) -> None:
    """Names, prefixes and namespaces are unique; no prefix lies inside another."""
    key = "dockyard.mirror.upstreams"
    for index, upstream in enumerate(upstreams):
        check_upstream(upstream, f"{key}[{index}]")
    conflict = upstream_conflict([(u.name, u.prefix, tuple(u.namespaces)) for u in upstreams])
    if conflict:
        raise ConfigError(f"{key}: {conflict}", key=key)


def upstream_conflict(entries: list[tuple[str, str, tuple[str, ...]]]) -> str:
    """Why (name, prefix, namespaces) entries cannot be served together; "" if they can."""
    names: set[str] = set()
    hosts: dict[str, str] = {}
    for name, _, namespaces in entries:
        if name in names:
            return f'two upstreams are named "{name}"'
        names.add(name)
        for host in namespaces:
            if host.lower() in hosts:
                return f'namespace "{host}" names both "{hosts[host.lower()]}" and "{name}"'
            hosts[host.lower()] = name
    for index, (first, outer, _) in enumerate(entries):
        for second, inner, _ in entries[index + 1 :]:
            if prefixes_overlap(outer, inner):
                return f'the prefixes of "{first}" ({outer}) and "{second}" ({inner}) overlap'
    return ""


def prefixes_overlap(one: str, other: str) -> bool:
    return one == other or one.startswith(other + "/") or other.startswith(one + "/")


def _duration(key: str, text: str, *, positive: bool) -> None:
    try:
        seconds = parse_duration(text)
    except ConfigError as exc:
        raise ConfigError(f"{key}: {exc.message}", key=key) from None
    if seconds < 0 or (positive and seconds == 0):
        raise ConfigError(f"{key}: must be {'above' if positive else 'at least'} 0", key=key)


def exec_settings(raw: dict[str, Any]) -> tuple[str, float]:
    """``proxy.exec`` (registry:2's credential helper): its command and lifetime (seconds;
    default one hour). ConfigError when malformed."""
    unknown = sorted(set(raw) - {"command", "lifetime"})
    if unknown:
        key = f"proxy.exec.{unknown[0]}"
        raise ConfigError(f"unknown key {key}", key=key)
    command = raw.get("command")
    if not isinstance(command, str) or not command.strip():
        key = "proxy.exec.command"
        raise ConfigError(
            f"{key}: the credential helper to run (e.g. docker-credential-ecr-login)", key=key
        )
    lifetime = raw.get("lifetime", "1h")
    _duration("proxy.exec.lifetime", str(lifetime), positive=False)
    return command, parse_duration(str(lifetime))


def check_exec(raw: dict[str, Any], *, has_password: bool) -> None:
    exec_settings(raw)
    if has_password:
        key = "proxy.exec"
        raise ConfigError(f"{key}: either a credential helper or proxy.password, not both", key=key)


def check_outbound(outbound: OutboundSettings) -> None:
    for name in ("allowed", "denied"):
        for index, cidr in enumerate(getattr(outbound, name)):
            try:
                ipaddress.ip_network(str(cidr).strip(), strict=False)
            except ValueError:
                key = f"dockyard.outbound.{name}[{index}]"
                raise ConfigError(f'{key}: not an address or network: "{cidr}"', key=key) from None
