"""Trust policies per project (created, replaced with a growing revision, deleted, gone with
their project) and the indexes that list a manifest, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from dockyard.core.events import EventOrigin
from dockyard.persistence.records import NewManifest
from dockyard.persistence.sql import Database
from dockyard.persistence.sql.metadata import SqlMetadata
from dockyard.persistence.sql.trust import SqlTrustStore, TrustPolicyRow

Run = Callable[[Awaitable[Any]], Any]


def make_project(run: Run, database: Database) -> str:
    name = "p" + uuid.uuid4().hex[:12]
    now = time.time()
    sql = "INSERT INTO projects(name, created_at, updated_at) VALUES (?, ?, ?)"
    run(database.execute(sql, (name, now, now)))
    return name


def row(project: str, name: str = "release", mode: str = "enforce") -> TrustPolicyRow:
    return TrustPolicyRow(0, project, name, "**", mode, False, "[]", 0, "admin", 0.0)


def test_policies_are_replaced_with_a_new_revision_and_deleted(
    run: Run, database: Database
) -> None:
    store = SqlTrustStore(database)
    project = make_project(run, database)
    first = run(store.put_trust_policy(row(project)))
    assert (first.project, first.name, first.mode, first.revision) == (
        project,
        "release",
        "enforce",
        1,
    )
    second = run(store.put_trust_policy(row(project, mode="warn")))
    assert (second.id, second.mode, second.revision) == (first.id, "warn", 2)
    run(store.put_trust_policy(row(project, "another")))
    assert [p.name for p in run(store.trust_policies(project))] == ["another", "release"]
    assert run(store.put_trust_policy(row("missing-project"))) is None
    assert run(store.delete_trust_policy(project, "release")) is True
    assert run(store.delete_trust_policy(project, "release")) is False
    assert [p.name for p in run(store.trust_policies(project))] == ["another"]


def test_policies_go_with_their_project(run: Run, database: Database) -> None:
    store = SqlTrustStore(database)
    project = make_project(run, database)
    run(store.put_trust_policy(row(project)))
    run(database.execute("DELETE FROM projects WHERE name = ?", (project,)))
    assert run(store.trust_policies(project)) == []


def test_mode_is_checked_by_the_database(run: Run, database: Database) -> None:
    store = SqlTrustStore(database)
    project = make_project(run, database)
    try:
        run(store.put_trust_policy(row(project, mode="loud")))
    except Exception as exc:  # each backend raises its own integrity error
        assert "check" in str(exc).lower() or "constraint" in str(exc).lower()
    else:
        raise AssertionError("a mode outside enforce/warn/audit was stored")


def test_parent_indexes_of_a_manifest(run: Run, database: Database) -> None:
    metadata, store = SqlMetadata(database), SqlTrustStore(database)
    repo = "r" + uuid.uuid4().hex[:8] + "/app"
    child, index = "sha256:" + "1" * 64, "sha256:" + "2" * 64
    origin = EventOrigin()
    for digest, children in ((child, ()), (index, (child,))):
        manifest = NewManifest(
            digest=digest, media_type="application/vnd.oci.image.index.v1+json", content=b"{}",
            artifact_type=None, subject=None, annotations_json=None, blob_digests=(),
            child_digests=children, tags=(),
        )  # fmt: skip
        assert run(metadata.put_manifest(repo, manifest, origin=origin)) == []
    assert run(store.parent_indexes(repo, child)) == [index]
    assert run(store.parent_indexes(repo, index)) == []
    assert run(store.parent_indexes("other/app", child)) == []
