"""Web UI sessions in the metadata database (SQLite and PostgreSQL): found by a hash of the
id, ended by sign-out, lifetime and idleness (on a clock the test moves), the last use written
sparingly, expired rows pruned, and one cookie key for every process."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from dockyard.persistence.sql import Database
from dockyard.persistence.sql.ui_sessions import SqlUiSessions
from dockyard.services.web_sessions import WebSessions

Run = Callable[[Awaitable[Any]], Any]
HOUR = 3600.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(database: Database, run: Run) -> SqlUiSessions:
    run(database.execute("DELETE FROM ui_sessions"))
    return SqlUiSessions(database)


def _sessions(store: SqlUiSessions, clock: Clock) -> WebSessions:
    return WebSessions(store, lifetime=12 * HOUR, idle=HOUR, clock=clock)


def test_a_session_is_found_by_its_id_and_stored_by_its_hash(
    store: SqlUiSessions, database: Database, run: Run
) -> None:
    sessions = _sessions(store, Clock())
    made = run(sessions.start("alice", "user:1"))
    found = run(sessions.find(made.id))
    assert (found.subject, found.via, found.csrf) == ("alice", "user:1", made.csrf)
    stored = run(database.fetchall("SELECT id_hash FROM ui_sessions"))
    assert stored == [(hashlib.sha256(made.id.encode()).hexdigest(),)]
    assert run(sessions.find(made.id + "x")) is None
    run(sessions.end(made.id))
    assert run(sessions.find(made.id)) is None


def test_idle_sessions_end_and_use_keeps_them(store: SqlUiSessions, run: Run) -> None:
    clock = Clock()
    sessions = _sessions(store, clock)
    kept, idle = run(sessions.start("a", "")), run(sessions.start("b", ""))
    for _ in range(4):  # kept is used every 50 minutes, idle is not
        clock.now += 50 * 60
        assert run(sessions.find(kept.id)) is not None
    assert run(sessions.find(idle.id)) is None


def test_the_lifetime_ends_a_session_however_used(store: SqlUiSessions, run: Run) -> None:
    clock = Clock()
    sessions = _sessions(store, clock)
    made = run(sessions.start("alice", ""))
    for _ in range(23):
        clock.now += 30 * 60
        assert run(sessions.find(made.id)) is not None
    clock.now += 30 * 60  # 12 hours after the start
    assert run(sessions.find(made.id)) is None


def test_the_last_use_is_written_at_most_once_a_minute(
    store: SqlUiSessions, database: Database, run: Run
) -> None:
    clock = Clock()
    sessions = _sessions(store, clock)
    made = run(sessions.start("alice", ""))
    clock.now += 30
    run(sessions.find(made.id))
    assert run(database.fetchall("SELECT last_seen FROM ui_sessions")) == [(1_000_000.0,)]
    clock.now += 40
    run(sessions.find(made.id))
    assert run(database.fetchall("SELECT last_seen FROM ui_sessions")) == [(1_000_070.0,)]


def test_expired_sessions_are_pruned_when_new_ones_start(
    store: SqlUiSessions, database: Database, run: Run
) -> None:
    clock = Clock()
    sessions = _sessions(store, clock)
    run(sessions.start("old", ""))
    clock.now += 2 * HOUR
    run(sessions.start("new", ""))
    assert run(database.fetchall("SELECT subject FROM ui_sessions")) == [("new",)]


def test_every_process_signs_with_the_same_key(
    store: SqlUiSessions, open_again: Callable[[], Database], run: Run
) -> None:
    first = run(_sessions(store, Clock()).signing_key())
    other = run(_sessions(SqlUiSessions(open_again()), Clock()).signing_key())
    assert first == other and len(first) >= 48
