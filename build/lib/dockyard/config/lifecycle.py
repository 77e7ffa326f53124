"""Settings of the lifecycle features, under ``dockyard:`` (see docs/lifecycle.md).

``dockyard.gc``: garbage collection on a schedule inside the server.
``dockyard.immutability``: repository and tag patterns whose tags may not move or be deleted.
``dockyard.quotas``: per-project limits on stored bytes.
``dockyard.retention``: policies that delete old images, on a schedule or by hand.
"""

from __future__ import annotations

import msgspec

from dockyard.config.duration import parse_duration
from dockyard.config.errors import ConfigError
from dockyard.core.sizes import SizeError, parse_size


class Part(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Like ``model.Section`` (immutable, keyword-only, unknown keys rejected); defined here
    because ``model`` imports this module."""


def _seconds(text: str) -> float:
    return parse_duration(text) if text.strip() else 0.0


def parse_age(text: str) -> float:
    """A duration that may also be given in days: ``30d``, ``12h``, ``1h30m``."""
    stripped = text.strip()
    if stripped.endswith("d") and stripped[:-1].replace(".", "", 1).isdigit():
        return float(stripped[:-1]) * 86400.0
    return parse_duration(stripped)


class GcSettings(Part, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``dockyard gc`` on a schedule; one node at a time runs it (a lease in the database)."""

    interval: str = ""  # empty or 0: not scheduled (``dockyard gc`` still works)
    grace: str = "1h"  # blobs and untagged manifests younger than this are kept
    deleteuntagged: bool = False
    dryrun: bool = False

    @property
    def interval_seconds(self) -> float:
        return _seconds(self.interval)

    @property
    def grace_seconds(self) -> float:
        return _seconds(self.grace)


class ImmutableRuleSettings(Part, frozen=True, forbid_unknown_fields=True, kw_only=True):
    repositories: str = "**"  # a pattern (core/patterns.py): ``prod/**``, ``team-a/*``
    tags: str  # a pattern: ``v*``, ``{latest,stable}``


class ImmutabilitySettings(Part, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Rules from the configuration; ``dockyard immutable add`` stores more in the database."""

    rules: list[ImmutableRuleSettings] = []


class QuotaSettings(Part, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Limits on the bytes a project (a repository name's first component) stores; limits
    set with ``dockyard quota set`` override these."""

    default: str = ""  # every project without its own limit; empty: unlimited
    projects: dict[str, str] = {}  # project -> size (``50GiB``) or ``unlimited``
    warn: int = 90  # percent used above which responses carry a ``Warning`` header
    eventwarn: int = 80  # percent used whose crossing is a ``quota.warning`` event

    def limit_for(self, project: str) -> int | None:
        return parse_limit(self.projects.get(project, self.default))


UNLIMITED = ("", "unlimited", "none")


def parse_limit(text: str) -> int | None:
    """A quota: a size, or None for ``unlimited`` (also ``none`` or empty)."""
    if text.strip().lower() in UNLIMITED:
        return None
    try:
        return parse_size(text)
    except SizeError as exc:
        raise ConfigError(str(exc)) from None


class RetentionPolicySettings(Part, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Which images of the matching repositories go (docs/lifecycle.md, Retention)."""

    name: str = ""  # names the policy in logs and the deletion log; default: its pattern
    repositories: str = "**"  # a pattern; the first policy that matches a repository applies
    keeplast: int | None = None  # keep this many most recently pushed tagged images
    keeptags: list[str] = []  # always keep images with a tag matching one of these patterns
    untagged: bool = False  # delete untagged images
    olderthan: str = ""  # only delete images pushed longer ago than this (``30d``, ``720h``)
    notpulledfor: str = ""  # only delete images not pulled for this long (never: since push)


class RetentionSettings(Part, frozen=True, forbid_unknown_fields=True, kw_only=True):
    interval: str = ""  # empty or 0: not scheduled (``dockyard retention run`` still works)
    grace: str = "1h"  # images pushed more recently than this are never touched
    policies: list[RetentionPolicySettings] = []
    pullflush: str = "5s"  # how often each process writes the manifest pull times it saw

    @property
    def pullflush_seconds(self) -> float:
        return max(_seconds(self.pullflush), 0.1)

    @property
    def interval_seconds(self) -> float:
        return _seconds(self.interval)

    @property
    def grace_seconds(self) -> float:
        return _seconds(self.grace)
