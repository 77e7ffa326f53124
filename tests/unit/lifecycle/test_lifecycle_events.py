"""Lifecycle events (SQLite and PostgreSQL): ``quota.changed``, ``policy.changed``
(immutability rules), ``quota.warning`` once per crossing, ``quota.exceeded`` for a refused
push (throttled), and one ``gc.completed`` / ``retention.completed`` per run with its summary.
Identity, quota and policy events have no repository; ``target.project`` names the project."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from dockyard.auth.grants import SYSTEM
from dockyard.auth.principal import Principal
from dockyard.cache.base import MemoryCache
from dockyard.core.events import EventKind, EventOrigin, StoredEvent
from dockyard.persistence.sql import Database, SqlGarbageStore, SqlMetadata, SqlOutbox
from dockyard.persistence.sql.inventory import SqlInventory
from dockyard.persistence.sql.lifecycle import SqlLifecycleStore
from dockyard.persistence.sql.usage import SqlUsage
from dockyard.services.lifecycle.gc import GarbageCollector
from dockyard.services.lifecycle.immutability import ImmutabilityService
from dockyard.services.lifecycle.quotas import QuotaExceededError, QuotaPolicy, QuotaService
from dockyard.services.lifecycle.readonly import WriteGate
from dockyard.services.lifecycle.retention import RetentionService
from dockyard.services.lifecycle.retention_plan import RetentionPolicy
from dockyard.services.registry.descriptors import BlobDescriptorCache
from dockyard.storage.drivers.memory import MemoryDriver
from support.lifecycle_data import manifest, populate

Run = Callable[[Awaitable[Any]], Any]
ADMIN = Principal("root", identity=SYSTEM)
ALICE = EventOrigin(actor="alice", request_id="r-1")


async def _events(database: Database) -> list[StoredEvent]:
    return await SqlOutbox(database).events_after(0, 1000)


def _kinds(stored: list[StoredEvent]) -> list[str]:
    return [s.event.kind.value for s in stored]


def test_quota_and_immutability_changes_are_events(run: Run, database: Database) -> None:
    store = SqlLifecycleStore(database)
    quotas = QuotaService(SqlUsage(database), store, QuotaPolicy())
    immutability = ImmutabilityService(store, SqlInventory(database), ttl_seconds=0)

    async def main() -> list[StoredEvent]:
        await quotas.set_limit("team", 5000, by=ADMIN)
        await quotas.set_limit("team", None, by=ADMIN)
        assert await quotas.unset_limit("team", by=ADMIN)
        assert not await quotas.unset_limit("team", by=ADMIN)  # nothing stored: no event
        rule = await immutability.add_rule("prod/**", "v*", by=ADMIN)
        await immutability.add_rule("prod/**", "v*", by=ADMIN)  # exists: no event
        assert await immutability.remove_rule(rule.id, by=ADMIN)
        assert not await immutability.remove_rule(rule.id, by=ADMIN)
        with pytest.raises(ValueError):
            await immutability.add_rule("prod/**", "a/b", by=ADMIN)  # refused: no event
        await quotas.set_limit("other", 1)  # no actor given: no event
        return await _events(database)

    stored = run(main())
    assert _kinds(stored) == ["quota.changed"] * 3 + ["policy.changed"] * 2
    details = [s.event.target.detail for s in stored]
    assert details[:3] == [{"limit": 5000}, {"unlimited": True}, {"unset": True}]
    assert details[3]["action"] == "added" and details[4]["action"] == "removed"
    first = stored[0].event
    assert (first.repository, first.target.project, first.actor) == ("", "team", "root")
    assert stored[3].event.target.name == "immutability"


async def _body(size: int) -> AsyncIterator[bytes]:
    yield b"x" * size


async def _store(quotas: QuotaService, repository: str, size: int) -> None:
    async with quotas.holding(repository, size, origin=ALICE) as admit:
        async for _ in admit(_body(size)):
            pass


def test_quota_warning_once_per_crossing_and_exceeded_on_refusal(
    run: Run, database: Database, metadata: SqlMetadata
) -> None:
    store = SqlLifecycleStore(database)
    now = [1000.0]
    policy = QuotaPolicy(projects={"team": 2000}, event_percent=80)
    quotas = QuotaService(SqlUsage(database), store, policy, clock=lambda: now[0])

    async def main() -> None:
        await populate(metadata)  # team stores 1227 bytes: 61%
        await quotas.check_warning("team/a", ALICE)
        assert await _events(database) == []  # below 80%
        await metadata.commit_blob("team/a", "sha256:" + "a" * 64, 400)  # 1627: 81%
        quotas._used.clear()  # the cached usage a push would have bumped (added())
        await quotas.check_warning("team/a", ALICE)
        await quotas.check_warning("team/b", ALICE)  # same project, still above: no event
        with pytest.raises(QuotaExceededError):
            await _store(quotas, "team/new", 900)
        with pytest.raises(QuotaExceededError):
            await _store(quotas, "team/new", 900)  # within EXCEEDED_EVERY: folded
        now[0] += 60
        with pytest.raises(QuotaExceededError):
            await _store(quotas, "team/new", 900)

    run(main())
    stored = run(_events(database))
    assert _kinds(stored) == ["quota.warning", "quota.exceeded", "quota.exceeded"]
    warning, exceeded, later = (s.event for s in stored)
    assert (warning.repository, warning.target.project, warning.actor) == ("", "team", "alice")
    assert warning.target.detail == {"used": 1627, "limit": 2000, "percent": 80}
    assert (exceeded.repository, exceeded.target.project) == ("team/new", "team")
    assert exceeded.target.detail["refusals"] == 1 and later.target.detail["refusals"] == 2
    assert run(store.quota_alerts()) == ["team"]


def test_the_refresh_rearms_the_warning_below_the_threshold(
    run: Run, database: Database, metadata: SqlMetadata
) -> None:
    store = SqlLifecycleStore(database)
    quotas = QuotaService(SqlUsage(database), store, QuotaPolicy(projects={"team": 1300}))

    async def main() -> list[str]:
        await populate(metadata)  # 1227 of 1300: 94%
        await quotas.publish_metrics()  # a crossing no push noticed: raised, by no actor
        await quotas.publish_metrics()  # still above: nothing new
        await quotas.set_limit("team", 100_000)
        await quotas.publish_metrics()  # below again: re-armed
        assert await store.quota_alerts() == []
        await quotas.set_limit("team", 1300)
        await quotas.publish_metrics()  # crossed again: a second warning
        return _kinds(await _events(database))

    assert run(main()) == ["quota.warning", "quota.warning"]


def test_gc_and_retention_runs_are_one_event_each(
    run: Run, database: Database, metadata: SqlMetadata
) -> None:
    store, inventory = SqlLifecycleStore(database), SqlInventory(database)
    gc = GarbageCollector(
        MemoryDriver(), SqlGarbageStore(database), BlobDescriptorCache(MemoryCache()),
        grace_seconds=0, pin_seconds=0, events=store,
    )  # fmt: skip
    policy = RetentionPolicy("keep-one", repositories="team/**", keep_last=1)
    retention = RetentionService(
        SqlMetadata(database), inventory, store,
        ImmutabilityService(store, inventory, ttl_seconds=0), (policy,), grace_seconds=0,
        events=store,
    )  # fmt: skip

    async def main() -> None:
        for seed in ("one", "two"):
            assert await metadata.put_manifest("team/app", manifest(seed, (), (seed,))) == []
        await retention.run(dry_run=True)  # a dry run is no event
        await retention.run(actor="retention (scheduled)")
        await gc.run(dry_run=True)
        await gc.run(delete_untagged=True, actor="gc (scheduled)")

    run(main())
    stored = run(_events(database))
    kinds = _kinds(stored)
    assert kinds.count("retention.completed") == 1 and kinds.count("gc.completed") == 1
    finished = {s.event.kind: s.event for s in stored}
    run_event = finished[EventKind.RETENTION_COMPLETED]
    assert run_event.actor == "retention (scheduled)" and run_event.repository == ""
    assert run_event.target.detail["manifests_deleted"] == 1
    assert finished[EventKind.GC_COMPLETED].target.detail["manifests_deleted"] >= 0
    assert kinds.index("retention.completed") > kinds.index("manifest.deleted")


def test_the_read_only_switch_is_a_policy_event(run: Run, database: Database) -> None:
    gate = WriteGate(SqlLifecycleStore(database), ttl_seconds=0)

    async def main() -> list[StoredEvent]:
        await gate.switch(True, reason="moving disks", by="ops", actor=ADMIN)
        await gate.switch(False, by="ops", actor=ADMIN)
        await gate.switch(True, by="ops")  # no actor given: no event
        return await _events(database)

    stored = run(main())
    assert [(s.event.kind.value, s.event.target.name) for s in stored] == [
        ("policy.changed", "readonly"),
        ("policy.changed", "readonly"),
    ]
    assert stored[0].event.target.detail == {"readonly": True, "reason": "moving disks"}
    assert stored[1].event.target.detail == {"readonly": False, "reason": ""}
    assert run(gate.read_only())
