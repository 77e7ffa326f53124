"""Token scopes and the JWT ``access`` claim (distribution's docs/spec/auth/scope.md).

A scope is ``type[(class)]:name:action[,action...]``, e.g. ``repository:foo/bar:pull,push`` or
``registry:catalog:*``. A repository name never contains ``:``, but the grammar allows it (a
host with a port), so the type ends at the first colon and the actions begin after the last.

Parsing is forgiving on purpose: a token server grants the *intersection* of what was asked
and what is allowed, so anything malformed, unknown or invalid is dropped, never an error.
Pure: imports only ``core``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from dockyard.core.errors import RegistryError
from dockyard.core.reference import validate_name

REPOSITORY = "repository"
REGISTRY = "registry"
CATALOG = "catalog"
WILDCARD = "*"
REPOSITORY_ACTIONS = ("pull", "push", "delete")
MAX_SCOPES = 64  # per token request: more is dropped, not an error
MAX_SCOPE_LENGTH = 512


@dataclass(frozen=True, slots=True)
class ResourceActions:
    """One entry of the ``access`` claim: actions on one typed, named resource."""

    type: str
    name: str
    actions: tuple[str, ...]

    @property
    def scope(self) -> str:
        """The scope string (``repository:foo:pull,push``)."""
        return f"{self.type}:{self.name}:{','.join(self.actions)}"

    def claim(self) -> dict[str, Any]:
        return {"type": self.type, "name": self.name, "actions": list(self.actions)}


def _known_actions(kind: str, name: str, actions: Iterable[str]) -> tuple[str, ...]:
    if kind == REGISTRY:
        allowed: tuple[str, ...] = (WILDCARD,) if name == CATALOG else ()
    elif kind == REPOSITORY:
        allowed = (*REPOSITORY_ACTIONS, WILDCARD)
    else:
        allowed = ()
    return tuple(dict.fromkeys(a for a in actions if a in allowed))


def _valid_repository(name: str) -> bool:
    try:
        validate_name(name)
    except RegistryError:
        return False
    return True


def parse_scope(text: str) -> ResourceActions | None:
    """One scope, or None when it does not name a resource dockyard knows."""
    if len(text) > MAX_SCOPE_LENGTH:
        return None
    kind, sep, rest = text.partition(":")
    name, sep2, actions = rest.rpartition(":")
    if not (sep and sep2 and name):
        return None
    if kind == REPOSITORY and not _valid_repository(name):
        return None
    known = _known_actions(kind, name, actions.split(","))
    return ResourceActions(kind, name, known) if known else None


def parse_scopes(values: Iterable[str]) -> list[ResourceActions]:
    """Scopes from ``scope`` parameters (each may hold several, space separated), merged by
    resource in the order first seen; at most :data:`MAX_SCOPES`."""
    merged: dict[tuple[str, str], list[str]] = {}
    words = (word for value in values for word in value.split())
    for count, word in enumerate(words):
        if count >= MAX_SCOPES:
            break
        parsed = parse_scope(word)
        if parsed is None:
            continue
        actions = merged.setdefault((parsed.type, parsed.name), [])
        actions.extend(a for a in parsed.actions if a not in actions)
    return [ResourceActions(t, n, tuple(a)) for (t, n), a in merged.items()]


def scope_string(entries: Iterable[ResourceActions]) -> str:
    """Scopes joined the way a challenge or an OAuth response lists them (space separated)."""
    return " ".join(entry.scope for entry in entries)


def resource_for(action: str, repository: str | None) -> tuple[str, str, str]:
    """(type, name, action) a policy action needs: ``catalog`` is ``registry:catalog:*``."""
    if action == CATALOG:
        return REGISTRY, CATALOG, WILDCARD
    return REPOSITORY, repository or "", action


class AccessSet:
    """What a token grants: resource -> actions, ``*`` standing for every action."""

    __slots__ = ("_grants",)

    def __init__(self, entries: Iterable[ResourceActions] = ()) -> None:
        grants: dict[tuple[str, str], frozenset[str]] = {}
        for entry in entries:
            key = (entry.type, entry.name)
            grants[key] = grants.get(key, frozenset()) | frozenset(entry.actions)
        self._grants = grants

    def permits(self, kind: str, name: str, action: str) -> bool:
        actions = self._grants.get((kind, name))
        return actions is not None and (action in actions or WILDCARD in actions)

    def __iter__(self) -> Iterator[ResourceActions]:
        for (kind, name), actions in self._grants.items():
            yield ResourceActions(kind, name, tuple(sorted(actions)))

    def __len__(self) -> int:
        return len(self._grants)

    def __repr__(self) -> str:
        return f"AccessSet({scope_string(self)!r})"

    @classmethod
    def from_claim(cls, claim: object) -> AccessSet:
        """The ``access`` claim of a verified token; malformed entries grant nothing."""
        if not isinstance(claim, list):
            return cls()
        return cls(entry for entry in map(_claim_entry, claim) if entry is not None)


def _claim_entry(item: object) -> ResourceActions | None:
    if not isinstance(item, dict):
        return None
    kind, name, actions = item.get("type"), item.get("name"), item.get("actions")
    if not (isinstance(kind, str) and isinstance(name, str) and isinstance(actions, list)):
        return None
    return ResourceActions(kind, name, tuple(a for a in actions if isinstance(a, str)))
