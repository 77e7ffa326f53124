"""registry:2 ``notifications`` and dockyard's delivery settings (``dockyard.events``,
``dockyard.outbound``); see docs/events.md and docs/configuration.md.

``notifications.endpoints`` are read as Distribution reads them: ``name``, ``url``,
``headers`` (a name to a list of values), ``timeout`` (default 1s), ``threshold`` (default
10), ``backoff`` (default 1s), ``ignoredmediatypes``, ``ignore.mediatypes``,
``ignore.actions`` and ``disabled``. ``notifications.events.includereferences`` adds a pushed
manifest's references to its event.
"""

from __future__ import annotations

import ipaddress
from typing import NoReturn
from urllib.parse import urlsplit

import msgspec

from dockyard.config.duration import checked_duration as _duration
from dockyard.config.duration import parse_duration
from dockyard.config.errors import ConfigError

ACTIONS = ("push", "pull", "mount", "delete")


class Part(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Like ``model.Section``; defined here because ``model`` imports this module."""


class IgnoreSettings(Part, frozen=True, forbid_unknown_fields=True, kw_only=True):
    mediatypes: list[str] = []
    actions: list[str] = []


class EndpointSettings(Part, frozen=True, forbid_unknown_fields=True, kw_only=True):
    name: str = ""
    disabled: bool = False
    url: str = ""
    headers: dict[str, list[str]] = {}
    timeout: str = ""  # empty or 0: 1s, as registry:2
    threshold: int = 0  # 0: 10, as registry:2
    backoff: str = ""  # empty or 0: 1s, as registry:2
    ignoredmediatypes: list[str] = []
    ignore: IgnoreSettings = msgspec.field(default_factory=IgnoreSettings)

    @property
    def timeout_seconds(self) -> float:
        return _positive_or(self.timeout, 1.0)

    @property
    def backoff_seconds(self) -> float:
        return _positive_or(self.backoff, 1.0)

    @property
    def failures_before_doubling(self) -> int:
        return self.threshold if self.threshold > 0 else 10


class EventsSettings(Part, frozen=True, forbid_unknown_fields=True, kw_only=True):
    includereferences: bool = False


class NotificationsSettings(Part, frozen=True, forbid_unknown_fields=True, kw_only=True):
    events: EventsSettings = msgspec.field(default_factory=EventsSettings)
    endpoints: list[EndpointSettings] = []


class DeliverySettings(Part, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``dockyard.events``: how the delivery engine works for every destination."""

    retention: str = "168h"  # delivered (or dead) events older than this are pruned
    maxattempts: int = 0  # notifications endpoints: attempts before a dead letter; 0: never
    maxbackoff: str = "5m"  # the longest wait between two attempts (jitter comes on top)
    concurrency: int = 8  # requests in flight per node
    poll: str = "250ms"  # how often an idle node looks for new events

    @property
    def retention_seconds(self) -> float:
        return parse_duration(self.retention)

    @property
    def max_backoff_seconds(self) -> float:
        return parse_duration(self.maxbackoff)

    @property
    def poll_seconds(self) -> float:
        return parse_duration(self.poll)


class OutboundSettings(Part, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``dockyard.outbound``: networks outbound requests may (``allowed``) or may never
    (``denied``) reach, beyond the built-in rules (link-local and metadata always denied)."""

    allowed: list[str] = []
    denied: list[str] = []


def _positive_or(text: str, default: float) -> float:
    seconds = parse_duration(text) if text.strip() else 0.0
    return seconds if seconds > 0 else default


def check_notifications(
    notifications: NotificationsSettings,
    delivery: DeliverySettings,
    outbound: OutboundSettings,
) -> None:
    """Raise ConfigError for the first bad endpoint or delivery setting."""
    names: set[str] = set()
    for index, endpoint in enumerate(notifications.endpoints):
        _check_endpoint(f"notifications.endpoints[{index}]", endpoint, names)
    _check_delivery(delivery)
    for key, networks in (("allowed", outbound.allowed), ("denied", outbound.denied)):
        for index, cidr in enumerate(networks):
            try:
                ipaddress.ip_network(str(cidr).strip(), strict=False)
            except ValueError:
                _fail(f"dockyard.outbound.{key}[{index}]", f'not an address or network: "{cidr}"')


def _check_endpoint(key: str, endpoint: EndpointSettings, names: set[str]) -> None:
    if not endpoint.name.strip():
        _fail(f"{key}.name", "every endpoint needs a name")
    if endpoint.name in names:
        _fail(f"{key}.name", f'"{endpoint.name}" is used by another endpoint')
    names.add(endpoint.name)
    _check_url(f"{key}.url", endpoint.url)
    for field in ("timeout", "backoff"):
        text = getattr(endpoint, field)
        if text.strip():
            _duration(f"{key}.{field}", text)
    if endpoint.threshold < 0:
        _fail(f"{key}.threshold", f"must be at least 0, got {endpoint.threshold}")
    for index, action in enumerate(endpoint.ignore.actions):
        if action not in ACTIONS:
            _fail(f"{key}.ignore.actions[{index}]", f"expected one of {', '.join(ACTIONS)}")


def _check_url(key: str, url: str) -> None:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        _fail(key, f'not a valid URL "{url}": {exc}')
    if parts.scheme not in ("http", "https") or not parts.hostname:
        _fail(key, f'expected an http:// or https:// URL with a host, got "{url}"')
    if parts.username is not None or parts.password is not None:
        _fail(key, "credentials in the URL are not allowed; send them in headers")


def _check_delivery(delivery: DeliverySettings) -> None:
    for field in ("retention", "maxbackoff", "poll"):
        if _duration(f"dockyard.events.{field}", getattr(delivery, field)) <= 0:
            _fail(f"dockyard.events.{field}", "must be above zero")
    if delivery.maxattempts < 0:
        _fail("dockyard.events.maxattempts", "must be at least 0 (0: never give up)")
    if delivery.concurrency < 1:
        _fail("dockyard.events.concurrency", "must be at least 1")


def _fail(key: str, message: str) -> NoReturn:
    raise ConfigError(f"{key}: {message}", key=key)
