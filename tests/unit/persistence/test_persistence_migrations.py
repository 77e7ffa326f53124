"""Schema steps forward and back (``dockyard migrate --to``): every step that can be undone
leaves exactly the schema of the version before it, data of older tables kept, on SQLite and
PostgreSQL; what cannot be undone is refused before anything runs."""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from dockyard.core.errors import MigrationError
from dockyard.persistence.postgres import schema as postgres_schema
from dockyard.persistence.postgres.database import PostgresDatabase
from dockyard.persistence.sql import Database
from dockyard.persistence.sql.migrations import FIRST_UNDOABLE, Migration, down_script, plan
from dockyard.persistence.sqlite import SqliteDatabase
from dockyard.persistence.sqlite import schema as sqlite_schema
from support import postgres

Run = Callable[[Awaitable[Any]], Any]
LATEST = len(sqlite_schema.MIGRATIONS)
UNDOABLE = range(FIRST_UNDOABLE, LATEST + 1)
Shape = dict[str, Any]


def test_every_step_from_the_first_undoable_one_says_how_to_undo_it() -> None:
    for steps in (sqlite_schema.MIGRATIONS, postgres_schema.MIGRATIONS):
        assert len(steps) == LATEST
        for number in UNDOABLE:
            assert down_script(steps[number - 1]), f"step {number} has no down"


def test_plans_forward_back_and_refusals() -> None:
    steps = ("CREATE TABLE a (x INT)", Migration("CREATE TABLE b (x INT)", "DROP TABLE b"))
    forward = plan(steps, 0)
    assert [(s.number, s.direction, s.summary) for s in forward.steps] == [
        (1, "up", "CREATE TABLE a"), (2, "up", "CREATE TABLE b"),
    ]  # fmt: skip
    back = plan(steps, 2, 1)
    assert [(s.number, s.direction, s.script) for s in back.steps] == [(2, "down", "DROP TABLE b")]
    assert plan(steps, 1, 1).steps == ()
    with pytest.raises(MigrationError, match="version 1 cannot be undone"):
        plan(steps, 2, 0)
    with pytest.raises(MigrationError, match="no schema version 3"):
        plan(steps, 0, 3)
    with pytest.raises(MigrationError, match="newer than this dockyard knows"):
        plan(steps, 5, 2)


@pytest.fixture(params=["sqlite", "postgres"])
def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Database]]:
    """Makes empty, unmigrated databases of one backend."""
    made: list[Database] = []
    count = iter(range(100))

    def make() -> Database:
        if request.param == "sqlite":
            database: Database = SqliteDatabase(str(tmp_path / f"{next(count)}.db"), migrate=False)
        else:
            if not postgres.available():
                pytest.skip("PostgreSQL not installed")
            database = PostgresDatabase(postgres.shared_server().create_database("downgrade"))
        made.append(database)
        return database

    yield make
    for database in made:
        database.close()


def _shape(database: Database) -> Shape:
    """Tables with their columns, and indexes, as the catalog describes them."""
    if isinstance(database, SqliteDatabase):
        conn = database.connection
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )]  # fmt: skip
        return {
            "tables": {t: conn.execute(f"PRAGMA table_info({t})").fetchall() for t in tables},
            "indexes": sorted(
                conn.execute("SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'index'"),
                key=str,
            ),
        }
    assert isinstance(database, PostgresDatabase)
    with psycopg.connect(database.options.conninfo) as conn:
        columns = conn.execute(
            "SELECT table_name, column_name, data_type, is_nullable, column_default "
            "FROM information_schema.columns WHERE table_schema = 'public' "
            "AND table_name <> 'dockyard_schema_migrations' ORDER BY 1, 2"
        ).fetchall()
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1"
        ).fetchall()
    return {"columns": columns, "indexes": indexes}


def _add_repository(run: Run, database: Database) -> None:
    run(database.execute("INSERT INTO repositories(name, created_at) VALUES ('kept/app', 1)"))


@pytest.mark.parametrize("number", UNDOABLE)
def test_undoing_a_step_gives_the_schema_before_it(
    run: Run, fresh: Callable[[], Database], number: int
) -> None:
    before = fresh()
    assert run(before.migrate_to(number - 1)) == number - 1
    expected = _shape(before)

    database = fresh()
    assert run(database.migrate_to(number)) == number
    _add_repository(run, database)
    assert run(database.migrate_to(number - 1)) == number - 1
    assert _shape(database) == expected
    assert run(database.fetchall("SELECT name FROM repositories")) == [("kept/app",)]
    assert run(database.migrate()) == LATEST, "and forward again"
    assert run(database.migration_plan()).steps == ()


def test_a_step_that_cannot_be_undone_changes_nothing(
    run: Run, fresh: Callable[[], Database]
) -> None:
    database = fresh()
    run(database.migrate())
    shape = _shape(database)
    with pytest.raises(MigrationError, match="cannot be undone"):
        run(database.migrate_to(FIRST_UNDOABLE - 2))
    assert _shape(database) == shape
    assert run(database.migration_plan()).current == LATEST


def test_an_unknown_newer_schema_is_refused(tmp_path: Path, run: Run) -> None:
    path = tmp_path / "newer.db"
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version={LATEST + 1}")
    database = SqliteDatabase(str(path), migrate=False)
    with pytest.raises(MigrationError, match="newer than this dockyard knows"):
        run(database.migrate_to(LATEST))
    database.close()
