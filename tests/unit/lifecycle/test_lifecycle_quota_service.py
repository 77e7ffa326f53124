"""Quota decisions: room left, refusals before and during a body, warnings, mounts."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from dockyard.core.errors import ErrorCode
from dockyard.persistence.sql import Database, SqlMetadata
from dockyard.persistence.sql.lifecycle import SqlLifecycleStore
from dockyard.persistence.sql.usage import SqlUsage
from dockyard.services.quotas import QuotaExceededError, QuotaPolicy, QuotaService
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
            await quotas.admit("team/new", _body(b"x" * 800, read=read), 800)
        assert read == [], "refused before a byte was read"
        assert early.value.code is ErrorCode.DENIED and early.value.status == 403
        assert 'quota of project "team" exceeded' in early.value.message
        body = await quotas.admit("team/new", _body(b"x" * 500, b"x" * 500), None)
        with pytest.raises(QuotaExceededError):
            await _drain(body)
        assert await _drain(await quotas.admit("team/a", _body(b"x" * 700), 700)) == 700
        exactly = await quotas.admit("team/a", _body(), 0, stored=773)
        assert await _drain(exactly) == 0, "completing an upload that filled the quota exactly"
        with pytest.raises(QuotaExceededError, match="went past the 0 B left"):
            await _drain(await quotas.admit("team/a", _body(b"x"), None, stored=773))
        warning = await quotas.warning("team/b")
        assert warning is not None and warning.startswith('299 - "project team has used 61%')
        assert await quotas.warning("other/c") is None
        assert await quotas.may_add("team/b", OWN, 200), "already counted: free"
        assert await quotas.may_add("team/b", OTHER, 30)
        assert not await quotas.may_add("team/b", OTHER, 800)
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
