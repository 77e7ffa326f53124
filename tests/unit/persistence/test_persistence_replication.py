"""The replication tables on SQLite and PostgreSQL: policies (credentials apart), schedules
taken once, runs with their results and stop switch, uploads to resume, cascades."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from dockyard.persistence.replication_records import ItemRow, RunTotals
from dockyard.persistence.sql import Database
from dockyard.persistence.sql.replication import SqlReplicationStore

Run = Callable[[Awaitable[Any]], Any]


@pytest.fixture
def store(database: Database, backend: str, run: Run) -> SqlReplicationStore:
    if backend == "postgres":  # the suite's database is shared: start from empty tables
        run(database.execute("TRUNCATE replication_policies RESTART IDENTITY CASCADE"))
    return SqlReplicationStore(database)


def test_policies_keep_their_credentials_apart(run: Run, store: SqlReplicationStore) -> None:
    async def main() -> None:
        made = await store.create_policy("a", '{"name":"a"}', '{"password":"pw"}', 0.0, 10.0)
        assert made is not None
        assert await store.create_policy("a", "{}", "", 0.0, 11.0) is None  # the name is taken
        found = await store.policy("a")
        assert found is not None and found.definition == '{"name":"a"}'
        assert "pw" not in repr(found)
        assert await store.credentials(made) == '{"password":"pw"}'
        assert await store.update_policy(made, '{"name":"a","x":1}', None, 5.0, 12.0)
        assert await store.credentials(made) == '{"password":"pw"}'  # kept when not given
        assert await store.update_policy(made, '{"name":"a"}', "", 5.0, 13.0)
        assert await store.credentials(made) == ""
        assert [p.name for p in await store.policies()] == ["a"]

    run(main())


def test_a_due_schedule_is_taken_once(run: Run, store: SqlReplicationStore) -> None:
    async def main() -> None:
        made = await store.create_policy("s", "{}", "", 100.0, 1.0)
        assert made is not None
        await store.create_policy("never", "{}", "", 0.0, 1.0)
        assert await store.due_policies(99.0) == []
        due = await store.due_policies(100.0)
        assert [p.name for p in due] == ["s"]
        assert await store.advance_schedule(made, 100.0, 200.0)
        assert not await store.advance_schedule(made, 100.0, 200.0)  # another node was first
        assert await store.due_policies(150.0) == []

    run(main())


def test_runs_record_results_and_stop(run: Run, store: SqlReplicationStore) -> None:
    async def main() -> None:
        policy = await store.create_policy("p", "{}", "", 0.0, 1.0)
        assert policy is not None
        first = await store.create_run(policy, "manual", False, "", 2.0)
        await store.attach_job(first, 77)
        assert await store.start_run(first, 3.0)
        await store.add_items(first, [
            ItemRow("a:1", "b:1", "sha256:x", "copied", "", 10, 4.0),
            ItemRow("a:2", "b:2", "", "failed", "peer down", 0, 5.0),
        ])  # fmt: skip
        await store.finish_run(first, RunTotals("failed", 1, 0, 1, 10, "1 copied"), 6.0)
        row = await store.run(first)
        assert row is not None and (row.state, row.job_id, row.copied, row.failed) == (
            "failed", 77, 1, 1)  # fmt: skip
        assert [i.outcome for i in await store.items(first, 10)] == ["copied", "failed"]
        assert await store.start_run(first, 7.0)  # a failed run may run again (a retry)
        queued = await store.create_run(policy, "push", False, "a:1", 8.0)
        assert await store.request_stop(queued, 9.0)
        stopped = await store.run(queued)
        assert stopped is not None and stopped.state == "stopped" and stopped.stop_requested
        assert not await store.start_run(queued, 10.0)  # never starts
        assert not await store.request_stop(queued, 11.0)  # already over
        assert await store.stop_requested(queued)
        assert [r.id for r in await store.runs(policy, 10)] == [queued, first]
        assert [r.id for r in await store.runs(None, 1)] == [queued]

    run(main())


def test_uploads_to_resume_and_cascades(run: Run, store: SqlReplicationStore) -> None:
    async def main() -> None:
        policy = await store.create_policy("u", "{}", "", 0.0, 1.0)
        assert policy is not None
        assert await store.upload(policy, "r", "sha256:a") is None
        await store.remember_upload(policy, "r", "sha256:a", "/v2/r/blobs/uploads/1", 2.0)
        await store.remember_upload(policy, "r", "sha256:a", "/v2/r/blobs/uploads/2", 3.0)
        assert await store.upload(policy, "r", "sha256:a") == "/v2/r/blobs/uploads/2"
        await store.forget_upload(policy, "r", "sha256:a")
        assert await store.upload(policy, "r", "sha256:a") is None
        await store.remember_upload(policy, "r", "sha256:b", "/v2/r/blobs/uploads/3", 4.0)
        run_id = await store.create_run(policy, "manual", False, "", 5.0)
        await store.add_items(run_id, [ItemRow("a", "b", "", "copied")])
        assert await store.delete_policy("u")
        assert not await store.delete_policy("u")
        assert await store.run(run_id) is None
        assert await store.items(run_id, 10) == []
        assert await store.upload(policy, "r", "sha256:b") is None

    run(main())
