"""Which stored package versions the advisories affect: the candidates come from SQL (same
ecosystem and package name), the version comparison is ``core.vulns.versions`` (per
ecosystem, with univers). Pure CPU: callers run it in a worker thread for big sets."""

from __future__ import annotations

from collections.abc import Sequence

from dockyard.core.vulns.versions import fixed_after, is_affected
from dockyard.persistence.sql.vulndb import Candidate

Match = tuple[int, str, str, str]  # package id, advisory id, fixed version ("" if none), severity


def evaluate(candidates: Sequence[Candidate]) -> list[Match]:
    """The matches among ``candidates``: one per (package, advisory), the first affected
    entry that includes the version giving the fixed version."""
    found: dict[tuple[int, str], tuple[str, str]] = {}
    for candidate in candidates:
        key = (candidate.package_id, candidate.advisory_id)
        if key in found or not is_affected(candidate.version, candidate.affected):
            continue
        found[key] = (fixed_after(candidate.version, candidate.affected), candidate.severity)
    return [(package, advisory, *rest) for (package, advisory), rest in found.items()]
