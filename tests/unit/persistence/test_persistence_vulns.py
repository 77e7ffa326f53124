"""The vulnerability tables on SQLite and on a real PostgreSQL: an import is idempotent and
removes withdrawn advisories, an index's platforms are judged one by one, a changed summary
is saved with its event, findings and search are joins."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from dockyard.core.events import EventOrigin
from dockyard.core.vulns.osv import parse
from dockyard.persistence.sql import Database
from dockyard.persistence.sql.vulndb import SqlVulnDb
from dockyard.persistence.sql.vulns import ScannedImage, SqlVulnFindings
from dockyard.persistence.sql.vulns_schema import VULN_TABLES
from dockyard.services.vulns.matcher import evaluate
from support.osv import CRITICAL_V3, encode, record

Run = Callable[[Awaitable[Any]], Any]
INDEX, AMD, ARM = ("sha256:" + c * 64 for c in "abc")
ORIGIN = EventOrigin(actor="tester")
ZLIB = record("DSA-1", "Debian:12", "zlib1g", fixed="1:1.2.13.dfsg-1", aliases=["CVE-2022-37434"],
              vector=CRITICAL_V3)  # fmt: skip
MUSL = record("ALPINE-1", "Alpine:v3.19", "musl", fixed="1.2.4-r3", label="LOW")


def advisories(*records: dict[str, Any]) -> list[Any]:
    return [parse(encode(r)) for r in records]


def setup(run: Run, database: Database) -> None:
    for table in reversed(VULN_TABLES):
        run(database.execute(f"DELETE FROM {table}"))  # noqa: S608 - constant names
    now = time.time()
    run(
        database.execute("INSERT INTO repositories(name, created_at) VALUES ('app/web', ?)", (now,))
    )
    row = run(database.fetchone("SELECT id FROM repositories WHERE name = 'app/web'"))
    run(database.execute(
        "INSERT INTO manifests(repository_id, digest, media_type, content, size, created_at) "
        "VALUES (?, ?, 'application/vnd.oci.image.index.v1+json', ?, 2, ?)",
        (row[0], INDEX, b"{}", now),
    ))  # fmt: skip


def events(run: Run, database: Database) -> list[tuple[str, str, dict[str, Any]]]:
    rows = run(database.fetchall(
        "SELECT kind, repository, target FROM outbox_events WHERE kind IN "
        "('vulnerability.found', 'vulnerability.resolved') ORDER BY sequence"
    ))  # fmt: skip
    return [(str(r[0]), str(r[1]), msgspec.json.decode(r[2])["detail"]) for r in rows]


def test_import_scan_findings_and_withdrawal(run: Run, database: Database) -> None:
    setup(run, database)
    vulndb, store = SqlVulnDb(database), SqlVulnFindings(database)
    first = run(vulndb.apply(advisories(ZLIB, MUSL), 1000.0))
    assert (first.added, first.changed, first.state.advisories) == (2, True, 2)
    again = run(vulndb.apply(advisories(ZLIB, MUSL, ZLIB), 2000.0))  # the same: nothing moves
    assert (again.added, again.updated, again.unchanged, again.changed) == (0, 0, 2, False)
    assert again.state.version == first.state.version

    images = [
        ScannedImage(AMD, "linux/amd64", frozenset({("deb", "zlib1g", "1:1.2.11.dfsg-2", "zlib")})),
        ScannedImage(ARM, "linux/arm64", frozenset({("apk", "musl", "1.2.4-r3", "")})),  # fixed
    ]
    package_ids = run(store.save_images(INDEX, images, 3000.0))
    assert len(package_ids) == 2
    matches = evaluate(run(vulndb.candidates(package_ids)))
    run(store.add_matches(matches))
    assert run(store.replace_matches(matches)) == []  # the same matches: nothing to write
    changes = run(store.refresh(first.state.version, 3000.0, ORIGIN, [AMD, ARM]))
    assert [(c.image, c.after) for c in changes] == [(AMD, (1, 0, 0, 0, 0))]

    by_platform = {s.platform: s for s in run(store.summaries(INDEX))}
    assert by_platform["linux/amd64"].by_severity()["critical"] == 1
    assert by_platform["linux/arm64"].counts == (0, 0, 0, 0, 0)
    assert [s.image for s in run(store.summaries(ARM))] == [ARM]  # a platform on its own
    [finding] = run(store.findings(AMD))
    assert (finding.package, finding.installed, finding.fixed) == (
        "zlib1g", "1:1.2.11.dfsg-2", "1:1.2.13.dfsg-1",
    )  # fmt: skip
    assert finding.aliases == ("CVE-2022-37434",) and finding.cvss_score == 9.8
    [hit] = run(store.search("CVE-2022-37434", 10))
    assert (hit.repository, hit.subject, hit.platform) == ("app/web", INDEX, "linux/amd64")
    assert run(store.search("CVE-1999-0001", 10)) == []

    other = ScannedImage("sha256:" + "f" * 64, "", frozenset())  # not holding zlib1g
    run(store.save_images("sha256:" + "e" * 64, [other], 3000.0))
    withdrawn = dict(ZLIB, withdrawn="2026-03-01T00:00:00Z", modified="2026-03-01T00:00:00Z")
    removal = run(vulndb.apply(advisories(withdrawn), 4000.0))
    assert (removal.removed, removal.state.advisories, removal.changed) == (1, 1, True)
    assert len(removal.touched) == 1  # zlib1g's package row: its images are counted again
    changed = run(store.replace_matches(evaluate(run(vulndb.candidates()))))
    packages = sorted(set(changed) | set(removal.touched))
    changes = run(store.refresh(removal.state.version, 4000.0, ORIGIN, packages=packages))
    assert [(c.image, c.after) for c in changes] == [(AMD, (0, 0, 0, 0, 0))]
    assert run(store.findings(AMD)) == []
    assert [(k, r, d["critical"]) for k, r, d in events(run, database)] == [
        ("vulnerability.found", "app/web", 1),
        ("vulnerability.resolved", "app/web", 0),
    ]
    assert {s.db_version for s in run(store.summaries(INDEX))} == {removal.state.version}
    assert [s.db_version for s in run(store.summaries(other.digest))] == [removal.state.version]


def test_scans_of_manifests_gone_are_pruned(run: Run, database: Database) -> None:
    setup(run, database)
    store = SqlVulnFindings(database)
    run(store.save_images(INDEX, [ScannedImage(AMD, "linux/amd64", frozenset())], 1.0))
    run(store.save_images("sha256:" + "d" * 64, [ScannedImage(ARM, "", frozenset())], 1.0))
    assert run(store.prune()) == 1  # ARM's only subject is in no repository
    assert run(store.image_count()) == 1
