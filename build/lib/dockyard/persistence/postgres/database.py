"""PostgreSQL through psycopg 3 and a ``psycopg_pool.AsyncConnectionPool`` per process.

Nothing connects when the object is built: the pool opens in ``open()`` (the ASGI lifespan of
the worker that serves) or on first use, so a parent that forks workers holds no connection.
Opening also migrates the schema (under an advisory lock, see ``schema.py``).

Statements run on pooled connections in autocommit mode; ``transaction(work)`` runs ``work``
in ``BEGIN ISOLATION LEVEL SERIALIZABLE`` ... ``COMMIT``, so a check-then-write behaves as it
does under SQLite's single writer, and retries it on serialization failures and deadlocks.

Connections are borrowed through a ``Lender`` (``lending.py``) that keeps them out of the pool
between statements, because a pool checkout costs as much CPU as the statement itself.

When PostgreSQL goes away, requests fail with ``RegistryError(UNAVAILABLE)`` (a 503) and the
pool reconnects in the background. A connection that died while idle (a restart) is noticed on
first use: the idle connections go back to the pool, the pool is checked and the operation,
which had not reached the server, runs once more on a fresh connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence

import psycopg
from psycopg_pool import AsyncConnectionPool

from dockyard.core.errors import RegistryError
from dockyard.persistence.postgres import schema
from dockyard.persistence.postgres.errors import MAX_ATTEMPTS, RETRYABLE, backoff, unavailable
from dockyard.persistence.postgres.lending import Connection, Lender
from dockyard.persistence.postgres.lookups import LookupRunner
from dockyard.persistence.postgres.options import PoolOptions, parse_url
from dockyard.persistence.sql.migrations import Plan
from dockyard.persistence.sql.session import Lookup, Params, Row, Session, T

log = logging.getLogger("dockyard.persistence")

# Give up on a dead server after this long per attempt; the pool keeps trying in the
# background and a new request starts a fresh attempt, so recovery is never far behind.
RECONNECT_TIMEOUT = 5.0
# While the database is known to be down, fail requests this fast instead of the full timeout.
DOWN_TIMEOUT = 1.0


@functools.lru_cache(maxsize=1024)
def _pg(sql: str) -> str:
    """The shared ``?`` placeholders as psycopg's ``%s``."""
    if "%" in sql:
        raise ValueError("shared SQL must not contain '%'")
    return sql.replace("?", "%s")


class _PgSession:
    """One pooled connection; counts whether COMMIT was sent (after that, never retry)."""

    __slots__ = ("committing", "conn")

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.committing = False

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        cursor = await self.conn.execute(_pg(sql), params)
        return await cursor.fetchone()

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        cursor = await self.conn.execute(_pg(sql), params)
        return await cursor.fetchall()

    async def execute(self, sql: str, params: Params = ()) -> int:
        cursor = await self.conn.execute(_pg(sql), params)
        return cursor.rowcount

    async def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        async with self.conn.cursor() as cursor:
            await cursor.executemany(_pg(sql), rows)

    def may_retry(self) -> bool:
        """The connection broke before anything could have been committed."""
        return self.conn.broken and not self.committing


class PostgresDatabase:
    """A connection pool, opened lazily, plus the schema; implements ``sql.Database``."""

    def __init__(self, url: str) -> None:
        self.options: PoolOptions = parse_url(url)
        self._pool: AsyncConnectionPool[Connection] | None = None
        self._lender: Lender | None = None
        self._lookups = LookupRunner()
        self._opening = asyncio.Lock()
        self._migrated = False
        self._healthy = True

    # lifecycle ------------------------------------------------------------------------------

    async def open(self) -> None:
        """Open the pool and migrate; a database that is down now is retried on first use."""
        try:
            await self._ready()
        except RegistryError:
            log.warning("metadata database unavailable at start; serving 503 until it is back")

    async def aclose(self) -> None:
        pool, self._pool = self._pool, None
        lender, self._lender = self._lender, None
        if lender is not None:
            await lender.return_idle()
        if pool is not None:
            await pool.close()

    def close(self) -> None:
        """Nothing to release synchronously: the pool only ever opens inside an event loop."""

    async def migrate(self) -> int:
        """Apply pending migrations on a connection of its own; return the schema version."""
        return await self._with_connection(schema.migrate)

    async def migration_plan(self, target: int | None = None) -> Plan:
        """What moving the schema to ``target`` (default: the newest) would run; runs nothing."""
        return await self._with_connection(lambda conn: schema.migration_plan(conn, target))

    async def migrate_to(self, target: int) -> int:
        """Move the schema to version ``target``, forward or back; return the version."""
        return await self._with_connection(lambda conn: schema.migrate_to(conn, target))

    async def _with_connection(
        self, work: Callable[[psycopg.AsyncConnection[tuple[object, ...]]], Awaitable[T]]
    ) -> T:
        try:
            conn = await psycopg.AsyncConnection.connect(
                self.options.conninfo, autocommit=True, **self.options.connect_kwargs
            )
        except psycopg.OperationalError as exc:
            raise unavailable(exc) from exc
        try:
            return await work(conn)
        except psycopg.OperationalError as exc:
            raise unavailable(exc) from exc
        finally:
            await conn.close()

    async def _ready(self) -> Lender:
        lender = self._lender
        if lender is not None and self._migrated:
            return lender
        async with self._opening:
            if self._lender is None:
                self._pool = await self._new_pool()
                self._lender = Lender(self._pool, self.options.max_size)
            if not self._migrated:
                await self.migrate()
                self._migrated = True
            return self._lender

    async def _new_pool(self) -> AsyncConnectionPool[Connection]:
        options = self.options
        pool: AsyncConnectionPool[Connection] = AsyncConnectionPool(
            options.conninfo,
            min_size=options.min_size,
            max_size=options.max_size,
            timeout=options.timeout,
            reconnect_timeout=RECONNECT_TIMEOUT,
            kwargs={"autocommit": True, **options.connect_kwargs},
            name="dockyard",
            open=False,
        )
        await pool.open(wait=False)
        return pool

    # running statements -------------------------------------------------------------------

    async def _run(self, op: Callable[[_PgSession], Awaitable[T]]) -> T:
        """Run ``op`` on a lent connection, retrying what is safe to retry."""
        lender = await self._ready()
        attempt, checked = 0, False
        while True:
            session: _PgSession | None = None
            try:
                conn = await lender.borrow(self.options.timeout if self._healthy else DOWN_TIMEOUT)
                try:
                    session = _PgSession(conn)
                    result = await op(session)
                finally:
                    await lender.give_back(conn)
                self._healthy = True
                return result
            except RETRYABLE as exc:
                attempt += 1
                if attempt >= MAX_ATTEMPTS:
                    raise unavailable(exc) from exc
                await asyncio.sleep(backoff(attempt))
            except psycopg.OperationalError as exc:
                self._healthy = False
                if checked or session is None or not session.may_retry():
                    raise unavailable(exc) from exc
                checked = True
                await self._recheck(lender)

    async def _recheck(self, lender: Lender) -> None:
        """Drop every other connection that died while idle (in the lender or the pool)."""
        await lender.return_idle()
        if self._pool is not None:
            await self._pool.check()

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        return await self._run(lambda s: s.fetchone(sql, params))

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return await self._run(lambda s: s.fetchall(sql, params))

    async def execute(self, sql: str, params: Params = ()) -> int:
        return await self._run(lambda s: s.execute(sql, params))

    async def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        await self._run(lambda s: s.executemany(sql, rows))

    async def transaction(self, work: Callable[[Session], Awaitable[T]]) -> T:
        return await self._run(lambda s: _transact(s, work))

    async def lookup(self, query: Lookup, params: tuple[str, ...]) -> Row | None:
        return await self._run(lambda s: self._lookups.fetchone(s.conn, query, params))


async def _transact(session: _PgSession, work: Callable[[Session], Awaitable[T]]) -> T:
    conn = session.conn
    await conn.execute("BEGIN ISOLATION LEVEL SERIALIZABLE")
    try:
        result = await work(session)
    except BaseException:
        if not conn.broken:
            with contextlib.suppress(psycopg.Error):  # keep the original error
                await conn.execute("ROLLBACK")
        raise
    session.committing = True
    await conn.execute("COMMIT")
    return result
