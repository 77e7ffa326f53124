"""Which repositories a caller may see in ``/v2/_catalog``: those it may pull. Pure, no I/O.

A :class:`Visibility` is the pull side of a caller's :class:`~dockyard.auth.grants.Grants`,
shaped so the catalog can be filtered in SQL: whole ``projects`` (the name itself and every
name under ``<project>/``) and repository ``patterns`` (``team-a/ci-*``). ``everything`` is
set for system administrators, holders of the system-wide ``registry:catalog`` permission and
grants that reach every project; :meth:`Visibility.covers` is the exact test for one name.
"""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.auth.grants import ANY_PROJECT, Grants
from dockyard.auth.permissions import Permission, pattern_matches, project_of


@dataclass(frozen=True, slots=True)
class Visibility:
    everything: bool = False
    projects: frozenset[str] = frozenset()
    patterns: tuple[str, ...] = ()

    def covers(self, repository: str) -> bool:
        if self.everything or project_of(repository) in self.projects:
            return True
        return any(pattern_matches(pattern, repository) for pattern in self.patterns)

    @property
    def nothing(self) -> bool:
        return not (self.everything or self.projects or self.patterns)


EVERYTHING = Visibility(everything=True)
NOTHING = Visibility()


def visibility_of(grants: Grants) -> Visibility:
    """The repositories ``grants`` allow pulling (or listing, with ``registry:catalog``)."""
    if grants.permits(Permission.CATALOG, None):
        return EVERYTHING  # administrators, and the system-wide catalog permission
    if grants.ceiling is not None and Permission.REPOSITORY_PULL not in grants.ceiling:
        return NOTHING
    projects: set[str] = set()
    patterns: list[str] = []
    for grant in grants.entries:
        if Permission.REPOSITORY_PULL not in grant.permissions:
            continue
        if not grant.pattern:
            if grant.project == ANY_PROJECT:
                return EVERYTHING
            projects.add(grant.project)
        elif grant.project == ANY_PROJECT or project_of(grant.pattern) == grant.project:
            patterns.append(grant.pattern)
    kept = tuple(sorted(p for p in set(patterns) if project_of(p) not in projects))
    return Visibility(projects=frozenset(projects), patterns=kept)
