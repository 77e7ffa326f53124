"""PostgreSQL only: the connection lender in front of the pool, and hot lookups through libpq.

A worker keeps the connections it took from the pool and lends them itself (``lending.py``);
the manifest lookups run as named prepared statements straight through libpq
(``lookups.py``). These tests hold that to the pool's promises: never more than
``pool_max_size`` connections, a timeout that answers 503, nothing leaked by a cancelled
request, and lookups that survive a lost server and a ``DEALLOCATE ALL``.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import psycopg
import pytest

from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.persistence.postgres import lending
from dockyard.persistence.postgres.database import PostgresDatabase
from dockyard.persistence.records import NewManifest
from dockyard.persistence.sql import Session, SqlMetadata
from dockyard.persistence.sql.session import Lookup
from support.postgres import PostgresServer

Run = Callable[[Awaitable[Any]], Any]
BLOB = "sha256:" + hashlib.sha256(b"blob").hexdigest()
CONTENT = b'{"schemaVersion": 2, "bytes": "\x00\xff"}'
MANIFEST = NewManifest(
    digest="sha256:" + hashlib.sha256(CONTENT).hexdigest(),
    media_type="application/vnd.oci.image.manifest.v1+json",
    content=CONTENT,
    artifact_type=None,
    subject=None,
    annotations_json=None,
    blob_digests=(BLOB,),
    tags=("latest",),
)


@pytest.fixture
def url(pg_server: PostgresServer) -> Iterator[str]:
    yield pg_server.create_database("lending")


def open_db(run: Run, url: str, query: str) -> tuple[PostgresDatabase, SqlMetadata]:
    database = PostgresDatabase(f"{url}?{query}")
    run(database.open())
    metadata = SqlMetadata(database)
    run(metadata.commit_blob("repo", BLOB, 1))
    assert run(metadata.put_manifest("repo", MANIFEST)) == []
    return database, metadata


def server_connections(pg_server: PostgresServer, url: str) -> int:
    """dockyard's connections to ``url``'s database, as PostgreSQL counts them."""
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(pg_server.url("postgres")) as admin:
        row = admin.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = %s AND application_name = 'dockyard'",
            (name,),
        ).fetchone()
    assert row is not None
    return int(row[0])


async def gather(*calls: Awaitable[Any]) -> list[Any]:
    return list(await asyncio.gather(*calls))


async def assert_manifest(metadata: SqlMetadata) -> None:
    by_tag = await metadata.manifest_by_tag("repo", "latest")
    by_digest = await metadata.manifest_by_digest("repo", MANIFEST.digest)
    for record in (by_tag, by_digest):
        assert record is not None
        assert (record.digest, record.media_type) == (MANIFEST.digest, MANIFEST.media_type)
        assert record.content == CONTENT and isinstance(record.content, bytes)
        assert record.artifact_type is None and record.subject is None
    assert await metadata.manifest_by_tag("repo", "missing") is None
    assert await metadata.manifest_by_digest("other", MANIFEST.digest) is None


# sharing and limits ------------------------------------------------------------------------


def test_many_requests_share_at_most_pool_max_size_connections(
    run: Run, url: str, pg_server: PostgresServer
) -> None:
    database, metadata = open_db(run, url, "pool_min_size=1&pool_max_size=3")

    async def one_of_each() -> None:
        await assert_manifest(metadata)
        assert await metadata.any_blob(BLOB) is not None
        await metadata.put_manifest("repo", MANIFEST)  # a transaction on a lent connection
        assert await metadata.list_tags("repo", "", 10) == ["latest"]

    run(gather(*(one_of_each() for _ in range(40))))
    assert 1 <= server_connections(pg_server, url) <= 3
    run(database.aclose())
    assert server_connections(pg_server, url) == 0, "idle lent connections close with the pool"


def test_no_free_connection_in_time_is_unavailable(run: Run, url: str) -> None:
    database, metadata = open_db(run, url, "pool_max_size=1&pool_timeout=0.3")
    holding = asyncio.Event()

    async def hold(session: Session) -> None:
        await session.fetchone("SELECT 1")
        holding.set()
        await session.fetchone("SELECT pg_sleep(1.5)")

    async def main() -> None:
        holder = asyncio.ensure_future(database.transaction(hold))
        await holding.wait()
        with pytest.raises(RegistryError) as caught:
            await metadata.manifest_by_tag("repo", "latest")
        assert caught.value.code is ErrorCode.UNAVAILABLE
        await holder
        await assert_manifest(metadata)  # the connection came back to be lent again
        await database.aclose()

    run(main())


def test_a_request_cancelled_mid_statement_leaks_no_connection(run: Run, url: str) -> None:
    database, metadata = open_db(run, url, "pool_max_size=1&pool_timeout=5")

    async def main() -> None:
        running = asyncio.ensure_future(database.fetchone("SELECT pg_sleep(30)"))
        await asyncio.sleep(0.2)
        waiting = asyncio.ensure_future(metadata.manifest_by_tag("repo", "latest"))
        await asyncio.sleep(0.05)
        waiting.cancel()
        running.cancel()
        for task in (running, waiting):
            with pytest.raises(asyncio.CancelledError):
                await task
        for _ in range(3):  # the only connection slot is usable again, again and again
            await assert_manifest(metadata)
        await database.aclose()

    run(main())


def test_a_waiter_cancelled_after_the_hand_over_passes_the_connection_on(
    run: Run, url: str
) -> None:
    database, metadata = open_db(run, url, "pool_max_size=1&pool_timeout=5")
    release = asyncio.Event()

    async def hold(session: Session) -> None:
        await session.fetchone("SELECT 1")
        await release.wait()

    waiters: list[asyncio.Task[Any]] = []

    async def hold_then_cancel() -> None:
        await database.transaction(hold)
        waiters[0].cancel()  # the connection was handed to it, and it has not run since

    async def main() -> None:
        holder = asyncio.ensure_future(hold_then_cancel())
        await asyncio.sleep(0.1)
        waiting = asyncio.ensure_future(metadata.manifest_by_tag("repo", "latest"))
        waiters.append(waiting)
        await asyncio.sleep(0.05)
        release.set()
        await holder
        with pytest.raises(asyncio.CancelledError):
            await waiting
        await assert_manifest(metadata)
        await database.aclose()

    run(main())


def test_connections_go_back_to_the_pool_after_their_lease(
    run: Run, url: str, pg_server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lending, "LEASE_SECONDS", 0.0)
    database, metadata = open_db(run, url, "pool_min_size=1&pool_max_size=2")
    run(gather(*(assert_manifest(metadata) for _ in range(20))))
    assert 1 <= server_connections(pg_server, url) <= 2
    run(database.aclose())


# lookups -----------------------------------------------------------------------------------


def test_lookups_survive_deallocate_all(run: Run, url: str) -> None:
    """psycopg sends DEALLOCATE ALL after a ROLLBACK; the lookup prepares itself again."""
    database, metadata = open_db(run, url, "pool_max_size=1")

    async def main() -> None:
        await assert_manifest(metadata)
        await database.execute("DEALLOCATE ALL")
        await assert_manifest(metadata)
        await database.aclose()

    run(main())


def test_lookups_survive_connections_killed_while_idle(
    run: Run, url: str, pg_server: PostgresServer
) -> None:
    database, metadata = open_db(run, url, "pool_min_size=2&pool_max_size=2")

    async def main() -> None:
        await asyncio.gather(*(assert_manifest(metadata) for _ in range(4)))
        async with await psycopg.AsyncConnection.connect(pg_server.url("postgres")) as admin:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (url.rsplit("/", 1)[1],),
            )
        await assert_manifest(metadata)
        await database.aclose()

    run(main())


def test_a_broken_lookup_raises_the_servers_error(run: Run, url: str) -> None:
    database, metadata = open_db(run, url, "pool_max_size=1")
    broken = Lookup("broken", "SELECT nothing FROM repositories WHERE name = ?", (str,))

    async def main() -> None:
        with pytest.raises(psycopg.errors.UndefinedColumn):
            await database.lookup(broken, ("repo",))
        await assert_manifest(metadata)  # the connection is still fine
        await database.aclose()

    run(main())
