"""Retention runs against a real database: dry runs match real runs, changes are respected."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from dockyard.persistence.sql import Database, SqlMetadata, SqlOutbox
from dockyard.persistence.sql.inventory import SqlInventory
from dockyard.persistence.sql.lifecycle import SqlLifecycleStore
from dockyard.services.lifecycle.immutability import ImmutabilityService
from dockyard.services.lifecycle.retention import RetentionReport, RetentionService
from dockyard.services.lifecycle.retention_plan import DAY, RetentionPolicy
from support.lifecycle_data import manifest

Run = Callable[[Awaitable[Any]], Any]
POLICY = RetentionPolicy("ci-builds", repositories="ci/**", keep_last=2, untagged=True)


def _service(database: Database, *policies: RetentionPolicy) -> RetentionService:
    store, inventory = SqlLifecycleStore(database), SqlInventory(database)
    immutability = ImmutabilityService(store, inventory, ttl_seconds=0)
    return RetentionService(
        SqlMetadata(database), inventory, store, immutability, policies or (POLICY,),
        clock=lambda: time.time() + 100 * DAY,
    )  # fmt: skip


async def _push(metadata: SqlMetadata) -> None:
    for repository in ("ci/app", "prod/app"):
        for number in range(4):
            new = manifest(f"{repository}-{number}", (), tags=(f"t{number}",))
            assert await metadata.put_manifest(repository, new) == []
            await asyncio.sleep(0.002)
        assert await metadata.put_manifest(repository, manifest(f"{repository}-u", (), ())) == []


def _names(report: RetentionReport, attribute: str) -> set[str]:
    return {f"{d.repository}@{','.join(d.tags)}" for d in getattr(report, attribute)}


def test_dry_run_matches_the_real_run(run: Run, database: Database, metadata: SqlMetadata) -> None:
    service = _service(database)

    async def main() -> None:
        await _push(metadata)
        dry = await service.run(dry_run=True)
        assert _names(dry, "planned") == {"ci/app@t0", "ci/app@t1", "ci/app@"}
        assert await metadata.manifest_by_tag("ci/app", "t0") is not None, "dry: nothing gone"
        real = await service.run(actor="test")
        assert _names(real, "deleted") == _names(dry, "planned")
        assert [d.digest for d in real.deleted] == [d.digest for d in dry.planned]
        assert await metadata.manifest_by_tag("ci/app", "t0") is None
        assert await metadata.manifest_by_tag("prod/app", "t0") is not None, "not covered"
        history = await service.history(10)
        assert {(r.repository, r.rule, r.actor) for r in history} == {
            ("ci/app", "ci-builds", "test")
        }
        assert any(r.reason.startswith("untagged") for r in history)
        assert (await service.run(dry_run=True)).planned == [], "nothing left to do"

    run(main())


def test_what_changed_since_the_plan_is_kept(
    run: Run, database: Database, metadata: SqlMetadata
) -> None:
    service = _service(database)

    async def main() -> None:
        await _push(metadata)
        decisions = await service.plan("ci/app", POLICY)
        doomed = next(d for d in decisions if d.delete and d.tags == ("t0",))
        retagged = manifest("ci/app-0", (), tags=("t0", "keep-me"))
        assert await metadata.put_manifest("ci/app", retagged) == []
        await service.immutability.add_rule("ci/**", "t1")
        report = RetentionReport(dry_run=False)
        await service._apply(decisions, report, "test")
        skipped = {d.tags: why for d, why in report.skipped}
        assert skipped[doomed.tags] == "changed since it was planned"
        assert "immutable tag" in skipped[("t1",)]
        assert _names(report, "deleted") == {"ci/app@"}

    run(main())


def test_each_deletion_leaves_an_event_by_the_run_s_actor(
    run: Run, database: Database, metadata: SqlMetadata
) -> None:
    service = _service(database)

    async def main() -> list[str]:
        await _push(metadata)
        report = await service.run(actor="nightly")
        return [d.digest for d in report.deleted]

    deleted = run(main())
    assert len(deleted) == 3
    events = [s.event for s in run(SqlOutbox(database).events_after(0, 100))]
    assert [(e.kind.value, e.target.digest) for e in events] == [
        ("manifest.deleted", digest) for digest in deleted
    ]
    assert {(e.actor, e.repository) for e in events} == {("nightly", "ci/app")}
    assert sorted(e.target.tags for e in events) == [(), ("t0",), ("t1",)]
