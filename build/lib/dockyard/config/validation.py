"""``validation.manifests.indexes`` (registry:2 3.x keys): which children an index must have.

registry:2 refuses an image index (or manifest list) whose child manifests are not in the
repository; since 3.0 ``validation.manifests.indexes.platforms`` relaxes that:

- ``all`` (the default): every child must be present;
- ``none``: no child needs to be (a *sparse* index, e.g. a mirror of only one platform);
- ``list``: only children whose platform is in ``platformlist`` (``os``/``architecture``
  pairs) must be present.

Values are matched case-insensitively, as registry:2 does. The ``validation`` section stays a
free-form mapping (registry:2 also has ``urls`` there, which dockyard ignores); only
``manifests.indexes`` is read, and a bad value is a ConfigError naming its key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dockyard.config.errors import ConfigError

KEY = "validation.manifests.indexes"
MODES = ("all", "none", "list")


@dataclass(frozen=True)
class IndexCompleteness:
    """Which children of a pushed index must already be in the repository."""

    mode: str = "all"
    platforms: frozenset[tuple[str, str]] = frozenset()  # (os, architecture) pairs for "list"

    def requires(self, platform: Mapping[str, Any] | None) -> bool:
        """Whether a child with this ``platform`` (a descriptor's field) must be present."""
        if self.mode == "all":
            return True
        if self.mode == "none" or not platform:
            return False
        return (str(platform.get("os", "")), str(platform.get("architecture", ""))) in (
            self.platforms
        )


def index_completeness(manifests: Mapping[str, Any]) -> IndexCompleteness:
    """The rule ``validation.manifests`` asks for; ConfigError naming the key otherwise."""
    raw = _mapping(manifests.get("indexes"), KEY)
    mode = str(raw.get("platforms") or "all").strip().lower()
    if mode not in MODES:
        raise ConfigError(
            f"{KEY}.platforms: expected one of {', '.join(MODES)}, got {raw['platforms']!r}",
            key=f"{KEY}.platforms",
        )
    entries = raw.get("platformlist") or []
    if not isinstance(entries, list):
        raise ConfigError(f"{KEY}.platformlist: expected a list", key=f"{KEY}.platformlist")
    platforms = frozenset(_platform(entry, n) for n, entry in enumerate(entries))
    if mode == "list" and not platforms:
        raise ConfigError(
            f"{KEY}.platformlist: platforms: list needs at least one entry",
            key=f"{KEY}.platformlist",
        )
    return IndexCompleteness(mode, platforms)


def _platform(entry: object, n: int) -> tuple[str, str]:
    key = f"{KEY}.platformlist[{n}]"
    raw = _mapping(entry, key)
    os_name, architecture = raw.get("os"), raw.get("architecture")
    if not isinstance(os_name, str) or not isinstance(architecture, str) or not os_name:
        raise ConfigError(f"{key}: needs os and architecture", key=key)
    return os_name, architecture


def _mapping(value: object, key: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{key}: expected a mapping", key=key)
    return value
