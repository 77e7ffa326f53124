"""Repository names in some name ranges, for a catalog filtered to what a caller may see.

``list_repositories_in`` is the keyset query of ``/v2/_catalog`` (``name > last ORDER BY name
LIMIT n``) restricted to exact ``names`` and to names starting with one of ``prefixes``. Each
prefix is a range on the unique index of ``repositories.name`` (``name >= 'team/' AND name <
'team0'``, ``0`` being the character after ``/``), so a page costs the same however many
repositories exist; long lists are split so no statement binds too many values, and the
pieces are merged (every piece is sorted, each gives at most ``limit`` names).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice

from dockyard.persistence.sql.session import Database, placeholders

TERMS_PER_QUERY = 200


def prefix_stop(prefix: str) -> str:
    """The first string after every string that starts with ``prefix`` (non-empty)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def _condition(names: Sequence[str], prefixes: Sequence[str]) -> tuple[str, list[object]]:
    terms: list[str] = []
    params: list[object] = []
    if names:
        terms.append(f"name IN ({placeholders(len(names))})")
        params += names
    for prefix in prefixes:
        terms.append("(name >= ? AND name < ?)")
        params += [prefix, prefix_stop(prefix)]
    return " OR ".join(terms), params


class SqlRepositoryCatalog:
    def __init__(self, database: Database) -> None:
        self.db = database

    async def list_repositories_in(
        self, last: str, limit: int, names: Sequence[str], prefixes: Sequence[str]
    ) -> list[str]:
        """Up to ``limit`` names after ``last``, in order, that are in ``names`` or start with
        one of ``prefixes`` (every prefix non-empty)."""
        terms = [("name", n) for n in sorted(set(names))]
        terms += [("prefix", p) for p in sorted(set(prefixes))]
        pieces: list[list[str]] = []
        for start in range(0, len(terms), TERMS_PER_QUERY):
            chunk = terms[start : start + TERMS_PER_QUERY]
            pieces.append(
                await self._piece(
                    last,
                    limit,
                    [value for kind, value in chunk if kind == "name"],
                    [value for kind, value in chunk if kind == "prefix"],
                )
            )
        merged = heapq.merge(*pieces)
        return list(islice(_unique(merged), limit))

    async def _piece(
        self, last: str, limit: int, names: Sequence[str], prefixes: Sequence[str]
    ) -> list[str]:
        condition, params = _condition(names, prefixes)
        rows = await self.db.fetchall(
            f"SELECT name FROM repositories WHERE name > ? AND ({condition}) "  # noqa: S608
            "ORDER BY name LIMIT ?",
            (last, *params, limit),
        )
        return [row[0] for row in rows]


def _unique(names: Iterable[str]) -> Iterator[str]:
    previous = None
    for name in names:
        if name != previous:
            yield name
        previous = name
