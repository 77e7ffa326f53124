"""What a policy selects: repositories and tags by glob, regex or semver range; platforms.

A pattern is a glob (``library/*``, ``v1.*``; ``*`` does not cross ``/``, ``**`` does) unless
it starts with ``regex:`` (a full match of a Python regular expression) or, for tags,
``semver:`` (an npm-style range such as ``semver:^1.2`` or ``semver:>=1.0 <2``, matched by the
``node-semver`` library; a leading ``v`` is allowed and non-versions never match). A name is
selected when any pattern matches and no ``!``-prefixed pattern does.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

import nodesemver

REGEX = "regex:"
SEMVER = "semver:"
NOT = "!"


class FilterError(ValueError):
    """A pattern that cannot be used (bad regex, bad range)."""


def _glob_regex(glob: str) -> str:
    parts = re.split(r"(\*\*|\*|\?)", glob)
    mapping = {"**": ".*", "*": "[^/]*", "?": "[^/]"}
    return "".join(mapping.get(part, re.escape(part)) for part in parts)


@lru_cache(maxsize=512)
def _compiled(pattern: str) -> re.Pattern[str]:
    if pattern.startswith(REGEX):
        try:
            return re.compile(pattern[len(REGEX) :])
        except re.error as exc:
            raise FilterError(f"bad regex {pattern!r}: {exc}") from None
    return re.compile(_glob_regex(pattern))


def _matches_one(pattern: str, name: str, *, versions: bool) -> bool:
    if pattern.startswith(SEMVER):
        if not versions:
            raise FilterError("semver ranges select tags, not repositories")
        return _in_range(pattern[len(SEMVER) :], name)
    return _compiled(pattern).fullmatch(name) is not None


def _in_range(spec: str, tag: str) -> bool:
    try:
        return bool(nodesemver.satisfies(tag, spec, loose=True))
    except ValueError:
        return False  # not a version (``latest``)


def check_patterns(patterns: Sequence[str], *, versions: bool) -> None:
    """Raise FilterError for a pattern that cannot be used."""
    for raw in patterns:
        pattern = raw.removeprefix(NOT)
        if not pattern:
            raise FilterError("an empty pattern")
        if pattern.startswith(SEMVER):
            if not versions:
                raise FilterError("semver ranges select tags, not repositories")
            try:
                nodesemver.make_range(pattern[len(SEMVER) :], loose=True)
            except ValueError as exc:
                raise FilterError(f"bad semver range {pattern!r}: {exc}") from None
        else:
            _compiled(pattern)


def selected(patterns: Sequence[str], name: str, *, versions: bool = False) -> bool:
    """Whether ``name`` passes ``patterns`` (none: everything passes)."""
    wanted = [p for p in patterns if not p.startswith(NOT)]
    refused = [p[1:] for p in patterns if p.startswith(NOT)]
    if any(_matches_one(p, name, versions=versions) for p in refused):
        return False
    return not wanted or any(_matches_one(p, name, versions=versions) for p in wanted)


def is_literal(pattern: str) -> bool:
    """A pattern naming exactly one repository (no catalog needed to find it)."""
    return not pattern.startswith((REGEX, SEMVER, NOT)) and not set(pattern) & set("*?")


def platform_of(entry: object) -> str:
    """``os/architecture[/variant]`` of an index entry's ``platform`` ("" when absent)."""
    if not isinstance(entry, dict):
        return ""
    platform = entry.get("platform")
    if not isinstance(platform, dict):
        return ""
    parts = [str(platform.get("os", "")), str(platform.get("architecture", ""))]
    if platform.get("variant"):
        parts.append(str(platform["variant"]))
    return "/".join(parts)


def platform_wanted(platforms: Sequence[str], entry: object) -> bool:
    """Whether an index entry is wanted: no filter, a listed platform, or one without a
    platform (attestation manifests and other artifacts ride along)."""
    if not platforms:
        return True
    found = platform_of(entry)
    if not found:
        return True
    return any(found == p or found.startswith(p + "/") for p in platforms)
