"""The catalog a caller may see: the repositories it may pull, a full page at a time.

The caller's :class:`~dockyard.auth.visibility.Visibility` becomes name ranges the database
filters on (a project ``team``: the name ``team`` and every name starting ``team/``; a pattern
``team/ci-*``: names starting ``team/ci-``), so a page is one indexed query, not a walk over
every repository. Each name is then checked exactly (``Visibility.covers``): names a pattern's
range holds but the pattern does not match are dropped, and the query continues after the last
name it saw until the page is full or the names run out. Pages are never short while more
visible names exist, and the keyset always moves forward, so paging cannot loop.
"""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.auth.visibility import Visibility
from dockyard.persistence.stores import MetadataStore, RepositoryCatalog

SCAN_BATCH = 500  # names read per query when only a full scan can answer (a pattern "*...")
_WILDCARDS = "*?["


@dataclass(frozen=True, slots=True)
class NameRanges:
    names: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()
    scan: bool = False  # a pattern starting with a wildcard: no range can narrow it


def name_ranges(visibility: Visibility) -> NameRanges:
    names = sorted(visibility.projects)
    prefixes = [f"{project}/" for project in names]
    scan = False
    for pattern in visibility.patterns:
        cut = min((pattern.find(c) for c in _WILDCARDS if c in pattern), default=-1)
        if cut < 0:
            names.append(pattern)
        elif cut == 0:
            scan = True
        else:
            prefixes.append(pattern[:cut])
    return NameRanges(tuple(names), tuple(prefixes), scan)


class VisibleCatalog:
    def __init__(self, metadata: MetadataStore, catalog: RepositoryCatalog | None) -> None:
        self.metadata = metadata
        self.catalog = catalog  # None: filter a scan of every name (slower, same answer)

    async def names(self, visibility: Visibility, last: str, want: int) -> list[str]:
        """Up to ``want`` names after ``last``, in order, that ``visibility`` covers."""
        if visibility.everything:
            return await self.metadata.list_repositories(last, want)
        if visibility.nothing:
            return []
        ranges = name_ranges(visibility)
        found: list[str] = []
        cursor = last
        while len(found) < want:
            size = want - len(found)
            if ranges.scan or self.catalog is None:
                size = max(size, SCAN_BATCH)
            batch = await self._batch(ranges, cursor, size)
            found += [name for name in batch if visibility.covers(name)]
            if len(batch) < size:
                break
            cursor = batch[-1]
        return found[:want]

    async def _batch(self, ranges: NameRanges, cursor: str, size: int) -> list[str]:
        if ranges.scan or self.catalog is None:
            return await self.metadata.list_repositories(cursor, size)
        return await self.catalog.list_repositories_in(cursor, size, ranges.names, ranges.prefixes)
