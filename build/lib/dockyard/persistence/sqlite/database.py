"""One SQLite connection in WAL mode, called inline on the event loop thread.

Lookups take microseconds, less than a hop to a thread pool would cost, so queries run
directly: the ``async`` methods never suspend. That is also what makes a transaction safe on
the one shared connection: ``BEGIN IMMEDIATE`` ... ``COMMIT`` runs without yielding to the
event loop, so no other request's statements can land inside it.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence

from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.persistence.sql.migrations import Plan, plan
from dockyard.persistence.sql.session import Lookup, Params, Row, Session, T
from dockyard.persistence.sqlite.schema import MIGRATIONS


class SqliteDatabase:
    """Owns the connection and the schema version (``PRAGMA user_version``)."""

    def __init__(self, path: str, *, migrate: bool = True) -> None:
        if path != ":memory:":
            make_private(path)
        self.path = path
        self.connection = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, timeout=30.0
        )
        self._configure()
        if migrate:  # False: `dockyard migrate --check/--to` decides
            self.migrate_now()

    def _configure(self) -> None:
        """The pragmas; switching to WAL can meet another process opening the same file at
        that moment (serve and worker started together) and is then tried again briefly."""
        for attempt in range(50):
            try:
                return self._pragmas()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or attempt == 49:
                    raise
                time.sleep(0.1)

    def _pragmas(self) -> None:
        for pragma in (
            "PRAGMA busy_timeout=30000",
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=NORMAL",
            "PRAGMA foreign_keys=ON",
            "PRAGMA mmap_size=268435456",
            "PRAGMA cache_size=-65536",
        ):
            self.connection.execute(pragma)

    # schema and lifecycle -----------------------------------------------------------------

    def schema_version(self) -> int:
        return int(self.connection.execute("PRAGMA user_version").fetchone()[0])

    def migrate_now(self) -> int:
        """Apply pending migrations, each in its own transaction; return the schema version."""
        version = self.schema_version()
        if version < len(MIGRATIONS):
            self._carry_out(plan(MIGRATIONS, version))
        return self.schema_version()

    async def migrate(self) -> int:
        return self.migrate_now()

    async def migration_plan(self, target: int | None = None) -> Plan:
        return plan(MIGRATIONS, self.schema_version(), target)

    async def migrate_to(self, target: int) -> int:
        """Move the schema to version ``target``, forward or back; return the version."""
        self._carry_out(plan(MIGRATIONS, self.schema_version(), target))
        return self.schema_version()

    def _carry_out(self, steps: Plan) -> None:
        conn = self.connection
        for step in steps.steps:
            up = step.direction == "up"
            before, after = (step.number - 1, step.number) if up else (step.number, step.number - 1)
            conn.execute("BEGIN IMMEDIATE")
            try:
                # another process may have got here first: each step runs from its own version
                if self.schema_version() == before:
                    for statement in _statements(step.script):
                        conn.execute(statement)
                    conn.execute(f"PRAGMA user_version={after}")
                conn.execute("COMMIT")
            except BaseException:
                _rollback(conn)
                raise

    async def open(self) -> None:
        """Nothing to do: the connection opened and migrated when it was built."""

    async def aclose(self) -> None:
        self.close()

    def close(self) -> None:
        self.connection.close()

    # statements -------------------------------------------------------------------------

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        with _busy_is_unavailable():
            cursor = self.connection.execute(sql, params)
            row: Row | None = cursor.fetchone()
            cursor.close()
        return row

    async def lookup(self, query: Lookup, params: tuple[str, ...]) -> Row | None:
        """``fetchone`` without its context manager (the manifest GET path)."""
        try:
            cursor = self.connection.execute(query.sql, params)
            row: Row | None = cursor.fetchone()
        except sqlite3.OperationalError as error:
            if _is_busy(error):
                raise _busy_error() from error
            raise
        cursor.close()  # ends the statement, and with it the read snapshot
        return row

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        with _busy_is_unavailable():
            return self.connection.execute(sql, params).fetchall()

    async def execute(self, sql: str, params: Params = ()) -> int:
        with _busy_is_unavailable():
            return self.connection.execute(sql, params).rowcount

    async def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        with _busy_is_unavailable():
            self.connection.executemany(sql, rows)

    async def transaction(self, work: Callable[[Session], Awaitable[T]]) -> T:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any exception (COMMIT's too)."""
        conn = self.connection
        with _busy_is_unavailable():
            conn.execute("BEGIN IMMEDIATE")
        try:
            result = await work(self)
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise
        return result


PRIVATE_FILE = 0o600
PRIVATE_DIRECTORY = 0o700


def make_private(path: str) -> None:
    """Create the database file (and a missing directory) for the owner alone.

    The file holds password hashes and token records. SQLite gives its ``-wal`` and ``-shm``
    files the mode of the database file, so those follow. A file (or ``-wal``/``-shm``) left
    readable by others by an older version is narrowed to 0600; an existing directory is the
    operator's and is left as it is.
    """
    os.makedirs(os.path.dirname(os.path.abspath(path)), mode=PRIVATE_DIRECTORY, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
    for name in (path, path + "-wal", path + "-shm"):
        with contextlib.suppress(FileNotFoundError, PermissionError):  # not ours to narrow
            if os.stat(name).st_mode & 0o077:
                os.chmod(name, PRIVATE_FILE)


@contextlib.contextmanager
def _busy_is_unavailable() -> Iterator[None]:
    """Another process held the database past the busy timeout: a 503, not a 500."""
    try:
        yield
    except sqlite3.OperationalError as error:
        if _is_busy(error):
            raise _busy_error() from error
        raise


def _is_busy(error: sqlite3.OperationalError) -> bool:
    text = str(error).lower()
    return "locked" in text or "busy" in text


def _busy_error() -> RegistryError:
    return RegistryError(ErrorCode.UNAVAILABLE, "the metadata database is busy; retry shortly")


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
