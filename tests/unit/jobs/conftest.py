"""Job queue tests run against SQLite and a real PostgreSQL.

SQLite: a fresh file per test. PostgreSQL: the session's server, one database for this
suite, emptied before each test. A :class:`Backend` opens as many connections ("nodes") on
the same database as a test needs; each test gets one event loop (``run``).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from dockyard.persistence.sql import Database
from dockyard.persistence.sql.jobs import SqlJobStore
from dockyard.persistence.sqlite import SqliteDatabase
from dockyard.services.jobs.model import Backoff
from dockyard.services.jobs.queue import JobQueue
from support import postgres

T = TypeVar("T")
Run = Callable[[Awaitable[T]], T]


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class Recorded:
    """A Telemetry that remembers what was counted."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str, str]] = Counter()
        self.gauges: dict[tuple[str, str], float] = {}

    def count(self, name: str, amount: float = 1.0, **labels: str) -> None:
        self.counts[(name, labels.get("job", ""), labels.get("result", ""))] += int(amount)

    def gauge(self, name: str, value: float, **labels: str) -> None:
        self.gauges[(name, labels.get("kind") or labels.get("job", ""))] = value


@dataclass
class Backend:
    name: str
    where: str  # SQLite file or PostgreSQL URL
    opened: list[Database] = field(default_factory=list)

    @property
    def postgres(self) -> bool:
        return self.name == "postgres"

    async def open(self) -> Database:
        """A new connection (pool) on the same database, as another node would have; closed
        at the end of the test."""
        database = await self.open_here()
        self.opened.append(database)
        return database

    async def open_here(self) -> Database:
        """A new connection (pool) in the running event loop (a thread's): the caller closes
        it."""
        database: Database
        if self.postgres:
            from dockyard.persistence.postgres.database import PostgresDatabase

            database = PostgresDatabase(self.where)
            await database.open()
        else:
            database = SqliteDatabase(self.where)
        return database

    def store(self, database: Database) -> SqlJobStore:
        return SqlJobStore(database, skip_locked=self.postgres)

    async def node(
        self, owner: str, clock: Callable[[], float], *, lease: float = 60.0, seed: int = 1
    ) -> JobQueue:
        store = self.store(await self.open())
        backoff = Backoff(10.0, 3600.0, rng=random.Random(seed))
        return JobQueue(store, owner=owner, lease_seconds=lease, backoff=backoff, clock=clock)


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path, run: Run[Any]) -> Iterator[Backend]:
    if request.param == "sqlite":
        found = Backend("sqlite", str(tmp_path / "metadata.db"))
    else:
        found = Backend("postgres", postgres.suite_database_url("jobs"))
        first = run(found.open())
        run(first.execute("TRUNCATE jobs, job_schedules RESTART IDENTITY"))
    yield found
    for database in found.opened:
        run(database.aclose())


@pytest.fixture
def clock() -> Clock:
    return Clock()
