"""What one cached upstream is: its name, the local prefix it is served under, and how to
reach it (``dockyard.mirror.upstreams`` in the configuration, or ``/api/v1/mirrors``).

A repository ``prefix/rest`` of the local registry is the upstream's ``remoteprefix/rest``
(``rest`` alone when ``remoteprefix`` is empty): ``hub/library/alpine`` is Docker Hub's
``library/alpine`` when ``hub`` maps to it. ``namespaces`` are the registry hosts a client
names with the OCI ``ns`` query parameter (``?ns=docker.io``); the upstream URL's own host
always counts too. Specs are stored as JSON (:func:`encode_spec`); the password is kept, but
never shown (:func:`public_view`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

import msgspec

from dockyard.config.duration import parse_duration
from dockyard.config.errors import ConfigError
from dockyard.config.mirror import (
    BreakerSettings,
    UpstreamSettings,
    check_upstream,
    upstream_conflict,
)
from dockyard.core.errors import ErrorCode, RegistryError

CONFIG = "config"  # defined in the configuration file: read-only at run time
API = "api"  # added through /api/v1 or the CLI: kept in the database


@dataclass(frozen=True, slots=True)
class Breaker:
    failures: int = 3
    cooldown: float = 10.0


@dataclass(frozen=True, slots=True)
class UpstreamSpec:
    name: str
    prefix: str
    url: str
    remote_prefix: str = ""
    namespaces: tuple[str, ...] = ()
    username: str = ""
    password: str = field(default="", repr=False)
    tag_ttl: float = 0.0
    staleness: float = 24 * 3600.0
    breaker: Breaker = field(default_factory=Breaker)
    source: str = API

    def covers(self, repository: str) -> bool:
        """Whether ``repository`` is this upstream's (strictly below the prefix)."""
        return repository.startswith(self.prefix + "/")

    def remote_name(self, repository: str) -> str:
        """The upstream's name for the local ``repository`` (which :meth:`covers`)."""
        rest = repository[len(self.prefix) + 1 :]
        return f"{self.remote_prefix}/{rest}" if self.remote_prefix else rest

    def local_name(self, remote: str) -> str:
        """The local name of the upstream's ``remote`` repository (the ``ns`` parameter)."""
        if self.remote_prefix and remote.startswith(self.remote_prefix + "/"):
            remote = remote[len(self.remote_prefix) + 1 :]
        return f"{self.prefix}/{remote}"

    def answers_for(self, host: str) -> bool:
        """Whether ``?ns=host`` names this upstream."""
        wanted = host.lower()
        return wanted in (n.lower() for n in self.namespaces) or wanted == self.host

    @property
    def host(self) -> str:
        return urlsplit(self.url).netloc.lower()


def spec_from_settings(
    settings: UpstreamSettings, *, tag_ttl: float, staleness: float, breaker: Breaker, source: str
) -> UpstreamSpec:
    """A spec from configuration-shaped settings; durations and the breaker left empty take
    the given defaults (``dockyard.mirror``'s). Raises ConfigError when invalid."""
    check_upstream(settings, "upstream")
    own = settings.breaker
    return UpstreamSpec(
        name=settings.name,
        prefix=settings.prefix,
        url=settings.url.rstrip("/"),
        remote_prefix=settings.remoteprefix,
        namespaces=tuple(settings.namespaces),
        username=settings.username,
        password=settings.password,
        tag_ttl=_seconds(settings.tagttl, tag_ttl),
        staleness=_seconds(settings.staleness, staleness),
        breaker=breaker if own is None else Breaker(own.failures, own.cooldown_seconds),
        source=source,
    )


def check_together(specs: list[UpstreamSpec]) -> None:
    """CONFLICT when names, namespaces or prefixes collide."""
    conflict = upstream_conflict([(s.name, s.prefix, s.namespaces) for s in specs])
    if conflict:
        raise RegistryError(ErrorCode.CONFLICT, conflict)


def encode_spec(spec: UpstreamSpec) -> str:
    return msgspec.json.encode(_settings_of(spec)).decode()


def decode_spec(text: str, defaults: UpstreamSpec) -> UpstreamSpec:
    """A stored spec; ``defaults`` gives what an older row did not record."""
    stored = msgspec.json.decode(text, type=UpstreamSettings)
    return spec_from_settings(
        stored,
        tag_ttl=defaults.tag_ttl,
        staleness=defaults.staleness,
        breaker=defaults.breaker,
        source=API,
    )


def settings_error(error: ConfigError) -> RegistryError:
    """An invalid spec from the API: 400 naming the field."""
    message = error.message.removeprefix("upstream.")
    return RegistryError(ErrorCode.BAD_REQUEST, f"invalid upstream: {message}")


def _settings_of(spec: UpstreamSpec) -> UpstreamSettings:
    return UpstreamSettings(
        name=spec.name,
        prefix=spec.prefix,
        url=spec.url,
        remoteprefix=spec.remote_prefix,
        namespaces=list(spec.namespaces),
        username=spec.username,
        password=spec.password,
        tagttl=f"{spec.tag_ttl:g}s",
        staleness=f"{spec.staleness:g}s",
        breaker=BreakerSettings(
            failures=spec.breaker.failures, cooldown=f"{spec.breaker.cooldown:g}s"
        ),
    )


def _seconds(text: str, default: float) -> float:
    return parse_duration(text) if text else default
