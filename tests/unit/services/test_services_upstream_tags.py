"""Tag confirmations: remembered in memory, kept in the store across restarts, written at
most once a minute per unchanged tag."""

from __future__ import annotations

import asyncio

from dockyard.services.upstream.tags import TagChecks


class DictStore:
    """An in-memory MirrorTagStore that counts writes."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], tuple[str, float]] = {}
        self.writes = 0

    async def confirmed(self, repository: str, tag: str) -> tuple[str, float] | None:
        return self.rows.get((repository, tag))

    async def confirm(self, repository: str, tag: str, digest: str, when: float) -> None:
        self.writes += 1
        self.rows[(repository, tag)] = (digest, when)


def test_ages_survive_a_restart_and_writes_are_rate_limited() -> None:
    async def scenario() -> None:
        now = [1000.0]
        store = DictStore()
        checks = TagChecks(store, clock=lambda: now[0])
        assert await checks.age("r", "t", "sha256:a") is None
        await checks.confirmed("r", "t", "sha256:a")
        now[0] += 30
        await checks.confirmed("r", "t", "sha256:a")  # unchanged, 30 s later: not written
        assert store.writes == 1
        assert await checks.age("r", "t", "sha256:a") == 0
        await checks.confirmed("r", "t", "sha256:b")  # changed: written at once
        assert store.writes == 2
        now[0] += 100
        restarted = TagChecks(store, clock=lambda: now[0])
        assert await restarted.age("r", "t", "sha256:b") == 100
        assert await restarted.age("r", "t", "sha256:a") is None  # another digest now

    asyncio.run(scenario())
