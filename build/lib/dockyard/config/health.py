"""``health.storagedriver`` (registry:2's keys): whether and how often the backends are probed.

The ``health`` section stays a free-form mapping, as registry:2 also accepts ``file``,
``http`` and ``tcp`` checks there (dockyard ignores those); only ``storagedriver`` is read,
leniently typed because ``REGISTRY_HEALTH_STORAGEDRIVER_*`` overrides arrive as strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dockyard.config.duration import parse_duration
from dockyard.config.errors import ConfigError

KEY = "health.storagedriver"


@dataclass(frozen=True)
class StorageHealth:
    enabled: bool = False
    interval_seconds: float = 10.0
    threshold: int = 3


def storage_health(health: dict[str, Any]) -> StorageHealth:
    """The checks ``health`` asks for; ConfigError naming the key for a bad value."""
    raw = health.get("storagedriver") or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{KEY}: expected a mapping", key=KEY)
    enabled = _flag(raw.get("enabled", False))
    interval = _seconds(raw.get("interval", "10s"))
    threshold = _count(raw.get("threshold", 3))
    return StorageHealth(enabled, interval, threshold)


def _flag(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ConfigError(f"{KEY}.enabled: expected true or false, got {value!r}", key=KEY)


def _seconds(value: object) -> float:
    try:
        seconds = parse_duration(str(value))
    except ConfigError as exc:
        raise ConfigError(f"{KEY}.interval: {exc.message}", key=KEY) from None
    if seconds <= 0:
        raise ConfigError(f"{KEY}.interval: must be above zero, got {value!r}", key=KEY)
    return seconds


def _count(value: object) -> int:
    try:
        count = int(str(value))
    except ValueError:
        count = 0
    if count < 1:
        raise ConfigError(f"{KEY}.threshold: expected a whole number >= 1, got {value!r}", key=KEY)
    return count
