"""Snapshots and restores of the PostgreSQL metadata database.

A snapshot is a ``REPEATABLE READ`` transaction that exports its snapshot
(``pg_export_snapshot()``): the blob list is read inside it, and ``pg_dump --snapshot`` dumps
exactly the same view while the transaction stays open, so the list matches the dump however
many pushes land meanwhile. A restore runs ``pg_restore`` into a database with no tables yet.
The client programs come from PATH (``PG_DUMP`` / ``PG_RESTORE`` name others).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import psycopg
from psycopg.conninfo import conninfo_to_dict

from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.persistence.backup_records import MetadataSnapshot, SnapshotBlob
from dockyard.persistence.postgres.database import PostgresDatabase
from dockyard.persistence.postgres.options import parse_url
from dockyard.persistence.sql.backup import reset_restored

_LIBPQ_ENV = {
    "host": "PGHOST", "port": "PGPORT", "user": "PGUSER", "password": "PGPASSWORD",
    "dbname": "PGDATABASE", "sslmode": "PGSSLMODE", "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT", "sslkey": "PGSSLKEY", "connect_timeout": "PGCONNECT_TIMEOUT",
}  # fmt: skip


def client_environment(url: str) -> dict[str, str]:
    """The environment that points pg_dump / pg_restore at ``url``: the password goes in
    ``PGPASSWORD``, never on a command line other users could read."""
    params = conninfo_to_dict(parse_url(url).conninfo)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    for key, value in params.items():
        if key in _LIBPQ_ENV and value is not None:
            env[_LIBPQ_ENV[key]] = str(value)
    return env


async def _run_tool(args: list[str], env: dict[str, str]) -> None:
    try:
        process = await asyncio.create_subprocess_exec(
            *args, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
        )
    except OSError as exc:
        raise RegistryError(ErrorCode.UNAVAILABLE, f"cannot run {args[0]}: {exc}") from exc
    _, stderr = await process.communicate()
    if process.returncode != 0:
        detail = stderr.decode(errors="replace").strip()[-2000:]
        raise RegistryError(ErrorCode.UNAVAILABLE, f"{args[0]} failed: {detail}")


class _PostgresSnapshot:
    def __init__(self, url: str, snapshot_id: str, blobs: Sequence[SnapshotBlob]) -> None:
        self._url = url
        self._id = snapshot_id
        self._blobs = blobs

    @property
    def blobs(self) -> Sequence[SnapshotBlob]:
        return self._blobs

    async def write(self, path: str) -> None:
        tool = os.environ.get("PG_DUMP", "pg_dump")
        args = [tool, "--format=custom", "--no-owner", "--no-privileges",
                f"--snapshot={self._id}", f"--file={path}"]  # fmt: skip
        await _run_tool(args, client_environment(self._url))


class PostgresSnapshotSource:
    kind = "postgresql"

    def __init__(self, url: str) -> None:
        self.url = url

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[MetadataSnapshot]:
        options = parse_url(self.url)
        async with await psycopg.AsyncConnection.connect(
            options.conninfo, **options.connect_kwargs
        ) as conn:
            await conn.set_isolation_level(psycopg.IsolationLevel.REPEATABLE_READ)
            await conn.set_read_only(True)
            async with conn.transaction():
                row = await (await conn.execute("SELECT pg_export_snapshot()")).fetchone()
                assert row is not None
                cursor = await conn.execute(
                    "SELECT digest, size FROM blobs WHERE state = 'ready' ORDER BY id"
                )
                blobs = [SnapshotBlob(str(r[0]), int(r[1])) for r in await cursor.fetchall()]
                yield _PostgresSnapshot(self.url, str(row[0]), blobs)


class PostgresRestorer:
    kind = "postgresql"

    def __init__(self, url: str) -> None:
        self.url = url

    async def is_empty(self) -> bool:
        """True when the database has no tables at all in its search path's first schema."""
        options = parse_url(self.url)
        async with await psycopg.AsyncConnection.connect(
            options.conninfo, autocommit=True, **options.connect_kwargs
        ) as conn:
            cursor = await conn.execute(
                "SELECT count(*) FROM information_schema.tables "
                "WHERE table_schema = current_schema()"
            )
            row = await cursor.fetchone()
        return row is not None and int(row[0]) == 0

    async def restore(self, path: str) -> None:
        tool = os.environ.get("PG_RESTORE", "pg_restore")
        env = client_environment(self.url)
        args = [tool, "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
                f"--dbname={env.get('PGDATABASE', '')}", path]  # fmt: skip
        await _run_tool(args, env)

    async def reset(self) -> int:
        database = PostgresDatabase(self.url)
        try:
            await database.migrate()
            return await database.transaction(reset_restored)
        finally:
            await database.aclose()
