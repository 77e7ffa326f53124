"""The catalog filtered to what a caller may pull: the grants -> name ranges mapping (pure),
and paging over real SQLite and PostgreSQL databases against a brute-force answer."""

from __future__ import annotations

from typing import Any

import pytest

from dockyard.auth.grants import Grant, Grants
from dockyard.auth.permissions import BUILTIN_ROLES, PUBLIC_PERMISSIONS
from dockyard.auth.visibility import Visibility, visibility_of
from dockyard.persistence.sql import SqlMetadata
from dockyard.persistence.sql.catalog import TERMS_PER_QUERY, SqlRepositoryCatalog
from dockyard.persistence.sql.session import Database
from dockyard.services.registry.catalog import SCAN_BATCH, VisibleCatalog, name_ranges
from unit.identity.conftest import Run

GUEST = BUILTIN_ROLES["guest"]
NAMES = sorted(
    ["a", "a/x", "a-b/x", "a.b", "a0", "ab/c"]
    + [f"team/app-{n:02d}" for n in range(30)]
    + [f"team/ci-{n:02d}" for n in range(30)]
    + ["team/cix", "team/deep/ci-1", "teamx/ci-1", "zeta/app"]
    + [f"p{n:03d}/app" for n in range(TERMS_PER_QUERY + 40)]
)


def test_grants_become_projects_and_patterns() -> None:
    assert visibility_of(Grants(admin=True)).everything
    assert visibility_of(Grants(entries=(Grant("*", frozenset({"registry:catalog"})),))).everything
    assert visibility_of(Grants(entries=(Grant("*", GUEST),))).everything
    mixed = Grants(entries=(
        Grant("team", GUEST, "team/ci-*"), Grant("red", GUEST), Grant("pub", PUBLIC_PERMISSIONS),
        Grant("blue", frozenset({"repository:push"})), Grant("red", GUEST, "red/x"),
    ))  # fmt: skip
    seen = visibility_of(mixed)
    assert seen.projects == {"red", "pub"} and seen.patterns == ("team/ci-*",)
    assert seen.covers("team/ci-1") and not seen.covers("team/app") and not seen.covers("blue/a")
    assert visibility_of(Grants(entries=(Grant("red", GUEST),),
                                ceiling=frozenset({"repository:push"}))).nothing  # fmt: skip


def test_patterns_become_name_ranges() -> None:
    ranges = name_ranges(Visibility(projects=frozenset({"a"}), patterns=("t/ci-*", "t/exact")))
    assert ranges.names == ("a", "t/exact") and ranges.prefixes == ("a/", "t/ci-")
    assert not ranges.scan
    assert name_ranges(Visibility(patterns=("*/ci",))).scan


VISIBILITIES = {
    "one project": Visibility(projects=frozenset({"a"})),
    "pattern": Visibility(projects=frozenset({"zeta"}), patterns=("team/ci-*",)),
    "pattern matching deeper": Visibility(patterns=("team/*ci-1",)),
    "many projects": Visibility(projects=frozenset(f"p{n:03d}" for n in range(0, 240, 2))),
    "leading wildcard": Visibility(patterns=("*/ci-1",)),
    "nothing": Visibility(),
}


@pytest.mark.parametrize("case", sorted(VISIBILITIES))
@pytest.mark.parametrize("n", [1, 4, 25])
def test_pages_are_full_ordered_and_exact(
    database: Database, run: Run[Any], case: str, n: int
) -> None:
    run(_insert(database, NAMES))
    visibility = VISIBILITIES[case]
    expected = [name for name in NAMES if visibility.covers(name)]
    catalog = VisibleCatalog(SqlMetadata(database), SqlRepositoryCatalog(database))
    scan_only = VisibleCatalog(SqlMetadata(database), None)
    for lister in (catalog, scan_only):
        seen: list[str] = []
        last = ""
        while True:
            page = run(lister.names(visibility, last, n + 1))
            seen += page[:n]
            if len(page) <= n:
                break
            assert len(page) == n + 1  # never short while more names exist
            last = page[n - 1]
        assert seen == expected, (case, n)


def test_the_scan_reads_in_batches(database: Database, run: Run[Any]) -> None:
    names = [f"r/{n:04d}" for n in range(SCAN_BATCH + 20)] + ["s/ci-1"]
    run(_insert(database, names))
    visible = VisibleCatalog(SqlMetadata(database), SqlRepositoryCatalog(database))
    assert run(visible.names(Visibility(patterns=("*/ci-1",)), "", 10)) == ["s/ci-1"]


async def _insert(database: Database, names: list[str]) -> None:
    await database.executemany(
        "INSERT INTO repositories(name, created_at) VALUES (?, 0)", [(name,) for name in names]
    )
