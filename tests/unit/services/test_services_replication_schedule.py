"""Schedules and on-demand runs of replication policies, on a real SQLite database and job
queue: a due schedule queues one run (a reconcile) and moves on; a run asked to stop before
it starts never starts; readers never see credentials; only administrators may act."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from dockyard.auth.grants import SYSTEM
from dockyard.auth.policy import AccessPolicy
from dockyard.auth.principal import Principal
from dockyard.core.errors import RegistryError
from dockyard.persistence.replication_records import RunRow
from dockyard.persistence.sql.jobs import SqlJobStore
from dockyard.persistence.sql.replication import SqlReplicationStore
from dockyard.persistence.sqlite import SqliteDatabase
from dockyard.services.jobs.queue import JobQueue
from dockyard.services.replication.policy import Credentials, Policy
from dockyard.services.replication.runs import Ends, RunExecutor
from dockyard.services.replication.service import RUN_KIND, PolicyInput, ReplicationService

ADMIN = Principal("admin", identity=SYSTEM)
SOMEONE = Principal("someone")


async def _no_ends(run: RunRow, policy: Policy) -> Ends:
    raise AssertionError("nothing is copied in these tests")


def _service(tmp_path: Path, now: list[float]) -> tuple[ReplicationService, JobQueue]:
    database = SqliteDatabase(str(tmp_path / "metadata.db"))
    store = SqlReplicationStore(database)
    queue = JobQueue(SqlJobStore(database, skip_locked=False), clock=lambda: now[0])
    access = AccessPolicy(authentication_required=True, identity=True)
    executor = RunExecutor(store, _no_ends, clock=lambda: now[0])
    return ReplicationService(store, queue, access, executor, clock=lambda: now[0]), queue


def test_a_due_schedule_queues_one_run_and_moves_on(tmp_path: Path) -> None:
    now = [1000.0]
    service, queue = _service(tmp_path, now)

    async def main() -> None:
        policy = Policy(name="nightly", url="https://peer.example", interval_seconds=3600)
        secret = Credentials("robot", "hunter2")
        view = await service.create(ADMIN, PolicyInput(policy=policy, credentials=secret))
        assert view.next_run_at == 4600.0 and view.has_credentials
        assert "hunter2" not in repr(view)
        assert await service.enqueue_due() == 0
        now[0] = 4600.0
        assert await service.enqueue_due() == 1
        assert await service.enqueue_due() == 0  # taken: the next one is an hour away
        runs = await service.runs(ADMIN, "nightly")
        assert [(r.trigger, r.state) for r in runs] == [("schedule", "queued")]
        job = await queue.claim([RUN_KIND])
        assert job is not None and job.payload == {"run": runs[0].id}
        assert (await service.show(ADMIN, "nightly")).next_run_at == 8200.0

    asyncio.run(main())


def test_a_run_stopped_before_it_starts_never_starts(tmp_path: Path) -> None:
    now = [1000.0]
    service, _ = _service(tmp_path, now)

    async def main() -> None:
        await service.create(ADMIN, PolicyInput(policy=Policy(name="p", url="http://peer.x")))
        queued = await service.start(ADMIN, "p")
        stopped = await service.stop(ADMIN, queued.id)
        assert stopped.state == "stopped"
        summary, retry = await service.execute(queued.id)
        assert not retry and "not started" in summary
        with pytest.raises(RegistryError) as again:
            await service.stop(ADMIN, queued.id)
        assert again.value.code.value_name == "CONFLICT"

    asyncio.run(main())


def test_only_administrators(tmp_path: Path) -> None:
    service, _ = _service(tmp_path, [1.0])

    async def main() -> None:
        given = PolicyInput(policy=Policy(name="p", url="http://peer.x"))
        for call in (
            service.create(SOMEONE, given),
            service.policies(SOMEONE),
            service.start(SOMEONE, "p"),
            service.runs(SOMEONE, None),
        ):
            with pytest.raises(RegistryError) as refused:
                await call
            assert refused.value.code.value_name == "DENIED"

    asyncio.run(main())
