"""Quota decisions: room left, refusals before and during a body, warnings, mounts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from dockyard.core.errors import ErrorCode
from dockyard.persistence.records import UploadRecord
from dockyard.persistence.sql import Database, SqlMetadata
from dockyard.persistence.sql.lifecycle import SqlLifecycleStore
from dockyard.persistence.sql.usage import SqlUsage
from dockyard.services.lifecycle.quotas import QuotaExceededError, QuotaPolicy, QuotaService
from support.lifecycle_data import OTHER, OWN, populate

Run = Callable[[Awaitable[Any]], Any]


class Recorder:
    def __init__(self) -> None:
        self.counts: list[tuple[str, dict[str, str]]] = []
        self.gauges: dict[tuple[str, str], float] = {}

    def count(self, name: str, amount: float = 1.0, **labels: str) -> None:
        self.counts.append((name, labels))

    def gauge(self, name: str, value: float, **labels: str) -> None:
        self.gauges[(name, labels.get("project", ""))] = value


async def _body(*chunks: bytes, read: list[int] | None = None) -> AsyncIterator[bytes]:
    for chunk in chunks:
        if read is not None:
            read.append(len(chunk))
        yield chunk


async def _drain(body: AsyncIterator[bytes]) -> int:
    return sum([len(chunk) async for chunk in body])


async def _through(
    quotas: QuotaService,
    repository: str,
    length: int | None,
    body: AsyncIterator[bytes],
    *,
    upload_id: str = "",
) -> int:
    async with quotas.holding(repository, length, upload_id=upload_id) as admit:
        return await _drain(admit(body))


def _service(database: Database, telemetry: Recorder) -> QuotaService:
    policy = QuotaPolicy(projects={"team": 2000}, warn_percent=50)
    store = SqlLifecycleStore(database)
    return QuotaService(SqlUsage(database), store, policy, telemetry=telemetry)


def test_room_refusals_and_warnings(run: Run, database: Database, metadata: SqlMetadata) -> None:
    telemetry = Recorder()
    quotas = _service(database, telemetry)

    async def main() -> None:
        await populate(metadata)  # team: 1000 + 200 + 7 (recent) + 20 of manifests
        assert await quotas.room("team/a") == 2000 - 1227
        assert await quotas.room("other/c") is None, "no limit there"
        read: list[int] = []
        with pytest.raises(QuotaExceededError) as early:
            await _through(quotas, "team/new", 800, _body(b"x" * 800, read=read))
        assert read == [], "refused before a byte was read"
        assert early.value.code is ErrorCode.DENIED and early.value.status == 403
        assert 'quota of project "team" exceeded' in early.value.message
        with pytest.raises(QuotaExceededError):
            await _through(quotas, "team/new", None, _body(b"x" * 500, b"x" * 500))
        assert await _through(quotas, "team/a", 700, _body(b"x" * 700)) == 700
        await metadata.uploads.create(UploadRecord("u" * 32, "team/a", "alice", 773, 0.0, 0.0))
        exactly = await _through(quotas, "team/a", 0, _body(), upload_id="u" * 32)
        assert exactly == 0, "completing an upload that filled the quota exactly"
        with pytest.raises(QuotaExceededError, match="went past the 0 B left"):
            await _through(quotas, "team/a", None, _body(b"x"), upload_id="u" * 32)
        warning = await quotas.warning("team/b")
        assert warning is not None and warning.startswith('299 - "project team has used 61%')
        assert await quotas.warning("other/c") is None
        assert await quotas.counts_already("team/b", OWN), "already counted: free"
        assert not await quotas.counts_already("team/b", OTHER)
        assert telemetry.gauges[("quota_limit_bytes", "team")] == 2000
        assert ("quota_denied", {"project": "team"}) in telemetry.counts

    run(main())


def test_stored_limits_override_the_configuration(
    run: Run, database: Database, metadata: SqlMetadata
) -> None:
    quotas = _service(database, Recorder())

    async def main() -> None:
        await populate(metadata)
        await quotas.set_limit("team", None)
        assert await quotas.room("team/a") is None, "unlimited now"
        await quotas.set_limit("other", 1000)
        with pytest.raises(QuotaExceededError, match="it is full"):
            await quotas.room("other/c")
        assert await quotas.unset_limit("team")
        assert await quotas.room("team/a") == 773
        reports = {r.detail.project: r for r in await quotas.report()}
        assert (reports["team"].limit, reports["team"].source) == (2000, "configuration")
        assert (reports["other"].limit, reports["other"].source) == (1000, "database")

    run(main())


def test_a_project_given_a_limit_is_reported_before_it_stores_anything(
    run: Run, database: Database, metadata: SqlMetadata
) -> None:
    quotas = _service(database, Recorder())  # "team" is limited in the configuration

    async def main() -> None:
        await quotas.set_limit("fresh", 5000)
        reports = {r.detail.project: r for r in await quotas.report()}
        assert sorted(reports) == ["fresh", "team"]
        fresh = reports["fresh"]
        assert (fresh.limit, fresh.source, fresh.detail.stored_bytes) == (5000, "database", 0)
        assert (reports["team"].limit, reports["team"].source) == (2000, "configuration")
        await populate(metadata)
        names = [r.detail.project for r in await quotas.report()]
        assert names == sorted(names) and {"fresh", "team", "other"} <= set(names)

    run(main())


def test_a_hold_is_seen_by_every_other_upload_until_it_ends(
    run: Run, database: Database, metadata: SqlMetadata
) -> None:
    quotas, other_node = _service(database, Recorder()), _service(database, Recorder())

    async def main() -> None:
        await populate(metadata)  # 773 bytes left in "team"
        async with quotas.holding("team/a", 700):
            assert await quotas.usage.in_flight_bytes("team") == 700
            with pytest.raises(QuotaExceededError, match="needs 100 B with 73 B left"):
                await _through(other_node, "team/b", 100, _body(b"x" * 100))
            assert await _through(other_node, "team/b", 73, _body(b"x" * 73)) == 73
        assert await quotas.usage.in_flight_bytes("team") == 0, "released on exit"
        assert await _through(other_node, "team/b", 100, _body(b"x" * 100)) == 100

    run(main())


def test_holds_of_a_dead_node_lapse_and_a_cancelled_session_frees_its_hold(
    run: Run, database: Database, metadata: SqlMetadata
) -> None:
    policy = QuotaPolicy(projects={"team": 2000})
    store = SqlLifecycleStore(database)
    dead = QuotaService(SqlUsage(database), store, policy, wall=lambda: time.time() - 3600)
    alive = _service(database, Recorder())

    async def main() -> None:
        await populate(metadata)
        async with dead.holding("team/a", 700):  # taken an hour ago, never renewed
            assert await _through(alive, "team/b", 700, _body(b"x" * 700)) == 700
        async with alive.holding("team/a", 700, upload_id="s" * 32):
            await alive.release_upload("s" * 32)
            assert await alive.usage.in_flight_bytes("team") == 0

    run(main())


def test_a_sessions_hold_and_its_recorded_offset_never_count_twice(
    run: Run, database: Database, metadata: SqlMetadata
) -> None:
    quotas = _service(database, Recorder())

    async def main() -> None:
        session = UploadRecord("v" * 32, "team/a", "alice", 100, 0.0, 0.0)
        await metadata.uploads.create(session)
        async with quotas.holding("team/a", 50, upload_id=session.id):
            assert await quotas.usage.in_flight_bytes("team") == 150
            await metadata.uploads.set_offset(session.id, 150, 1.0)  # the bytes are recorded
            assert await quotas.usage.in_flight_bytes("team") == 150, "not 200"
        assert await quotas.usage.in_flight_bytes("team") == 150

    run(main())


def test_a_dozen_concurrent_holds_never_pass_the_limit(
    run: Run, database: Database, metadata: SqlMetadata
) -> None:
    """Fifteen uploads of 300 bytes race for 773 bytes: exactly two get in, on either
    backend (PostgreSQL runs them on separate pooled connections, truly at once)."""
    quotas = _service(database, Recorder())
    decided: list[int] = []
    everyone_tried = asyncio.Event()

    def tried() -> None:
        decided.append(1)
        if len(decided) == 15:
            everyone_tried.set()

    async def one(index: int) -> bool:
        try:
            async with quotas.holding(f"team/r{index}", 300):
                tried()
                await everyone_tried.wait()  # the upload streams while the others try
                return True
        except QuotaExceededError:
            tried()
            return False

    async def main() -> list[bool]:
        await populate(metadata)
        return await asyncio.gather(*(one(i) for i in range(15)))

    assert sum(run(main())) == 2


def test_a_project_without_a_limit_never_looks_its_blobs_up(
    run: Run, database: Database, metadata: SqlMetadata
) -> None:
    """A mount into a project with no quota is free without a project-wide lookup of the blob
    (that lookup grew with the project: 100,000 repositories in one project took 20 times as
    long to populate as before quotas held mounts)."""
    quotas = _service(database, Recorder())
    looked_up: list[str] = []
    real = quotas.usage.counts_blob

    async def counting(project: str, digest: str, recent_after: float) -> bool:
        looked_up.append(project)
        return await real(project, digest, recent_after)

    quotas.usage.counts_blob = counting  # type: ignore[method-assign]

    async def main() -> None:
        await populate(metadata)
        assert await quotas.counts_already("other/c", OTHER), "no limit: free"
        assert looked_up == []
        assert not await quotas.counts_already("team/b", OTHER), "a limit: looked up"
        assert looked_up == ["team"]

    run(main())
