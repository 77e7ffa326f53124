"""Hot lookups (``sql.session.Lookup``) straight through libpq, beside psycopg's cursors.

A manifest GET is one indexed SELECT. Through a psycopg cursor it costs some 35 µs of CPU in
dockyard's process (cursor, query conversion, adapters, prepare bookkeeping, row loaders);
through the connection's ``pgconn`` (psycopg's documented ``psycopg.pq`` layer) it costs
about half of that:

- each lookup is a named prepared statement, prepared once per connection, so PostgreSQL
  neither parses nor plans it again;
- parameters are text, sent as UTF-8; results come in binary format, where BYTEA is the bytes
  themselves and TEXT its UTF-8, so decoding a row is a ``bytes.decode`` per text column;
- the wait for the answer is one reader callback on the event loop.

The connection is lent exclusively for the call (``lending.py``), so nothing else uses it
meanwhile. Failures raise psycopg's own exceptions (``OperationalError`` for a lost server,
the SQLSTATE's class for an error result), so the caller's retry and 503 handling apply.
A call cancelled mid-flight leaves the connection ACTIVE; the lender then hands it back to
the pool, which closes it.
"""

from __future__ import annotations

import asyncio
import weakref

import psycopg
from psycopg import errors, pq

from dockyard.persistence.postgres.lending import Connection
from dockyard.persistence.sql.session import Lookup, Row

_BINARY = 1


class LookupRunner:
    """Runs lookups on lent connections; remembers which are prepared on which connection."""

    def __init__(self) -> None:
        self._prepared: weakref.WeakKeyDictionary[Connection, set[str]] = (
            weakref.WeakKeyDictionary()
        )

    async def fetchone(
        self, conn: Connection, lookup: Lookup, params: tuple[str, ...]
    ) -> Row | None:
        pgconn = conn.pgconn
        prepared = self._prepared.setdefault(conn, set())
        if lookup.name not in prepared:
            await _prepare(pgconn, lookup)
            prepared.add(lookup.name)
        try:
            result = await _execute(pgconn, lookup, params)
        except errors.InvalidSqlStatementName:
            # psycopg sends DEALLOCATE ALL after a ROLLBACK on a connection where it prepared
            # statements of its own; that took ours too.
            await _prepare(pgconn, lookup)
            result = await _execute(pgconn, lookup, params)
        if result.ntuples == 0:
            return None
        if result.nfields != len(lookup.columns):
            raise psycopg.ProgrammingError(f"lookup {lookup.name}: unexpected columns")
        return tuple(_decode(result.get_value(0, i), kind) for i, kind in enumerate(lookup.columns))


def _statement_name(lookup: Lookup) -> bytes:
    return f"dockyard_{lookup.name}".encode()


async def _prepare(pgconn: pq.abc.PGconn, lookup: Lookup) -> None:
    pgconn.send_prepare(_statement_name(lookup), _numbered(lookup.sql).encode())
    _check(await _results(pgconn), pq.ExecStatus.COMMAND_OK)


async def _execute(
    pgconn: pq.abc.PGconn, lookup: Lookup, params: tuple[str, ...]
) -> pq.abc.PGresult:
    encoded = [p.encode() for p in params]
    pgconn.send_query_prepared(_statement_name(lookup), encoded, result_format=_BINARY)
    return _check(await _results(pgconn), pq.ExecStatus.TUPLES_OK)


def _decode(value: bytes | None, kind: type[str] | type[bytes]) -> str | bytes | None:
    if value is None or kind is bytes:
        return value
    return value.decode()


def _numbered(sql: str) -> str:
    """The shared ``?`` placeholders as PostgreSQL's ``$1, $2, ...``."""
    parts = sql.split("?")
    return "".join(f"{part}${i}" for i, part in enumerate(parts[:-1], start=1)) + parts[-1]


def _check(results: list[pq.abc.PGresult], expected: pq.ExecStatus) -> pq.abc.PGresult:
    """The one result of a statement, or psycopg's exception for the error it reports."""
    for result in results:
        if result.status == pq.ExecStatus.FATAL_ERROR:
            raise errors.error_from_result(result)
    if len(results) != 1 or results[0].status != expected:
        raise psycopg.InterfaceError(f"unexpected results: {[r.status for r in results]}")
    return results[0]


async def _results(pgconn: pq.abc.PGconn) -> list[pq.abc.PGresult]:
    """Send what libpq buffered, then every result of the statement."""
    fileno = pgconn.socket
    while pgconn.flush():
        await _ready(fileno, writing=True)
        pgconn.consume_input()
    results: list[pq.abc.PGresult] = []
    while True:
        pgconn.consume_input()
        while not pgconn.is_busy():
            result = pgconn.get_result()
            if result is None:
                return results
            results.append(result)
        await _ready(fileno, writing=False)


async def _ready(fileno: int, *, writing: bool) -> None:
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[None] = loop.create_future()
    add, remove = (
        (loop.add_writer, loop.remove_writer) if writing else (loop.add_reader, loop.remove_reader)
    )
    add(fileno, _wake, waiter)
    try:
        await waiter
    finally:
        remove(fileno)


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
