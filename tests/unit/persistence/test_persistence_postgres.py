"""PostgreSQL only: URL options, unavailability, retries, lost connections, migrations, races."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
import pytest

from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.persistence.postgres import schema
from dockyard.persistence.postgres.database import PostgresDatabase
from dockyard.persistence.postgres.errors import MAX_ATTEMPTS
from dockyard.persistence.postgres.options import parse_url
from dockyard.persistence.records import NewManifest
from dockyard.persistence.sql import Database, Session, SqlMetadata
from support.postgres import PostgresServer
from support.server import free_port

Run = Callable[[Awaitable[Any]], Any]
BLOB = "sha256:" + hashlib.sha256(b"blob").hexdigest()


def new_manifest(name: str, tag: str) -> NewManifest:
    content = f'{{"name": "{name}"}}'.encode()
    return NewManifest(
        digest="sha256:" + hashlib.sha256(content).hexdigest(),
        media_type="application/vnd.oci.image.manifest.v1+json",
        content=content,
        artifact_type=None,
        subject=None,
        annotations_json=None,
        blob_digests=(BLOB,),
        tags=(tag,),
    )


# URL options -----------------------------------------------------------------------------


def test_pool_parameters_are_split_off_the_url() -> None:
    options = parse_url(
        "postgresql://u:p@db:5433/reg?sslmode=require&pool_max_size=20&pool_timeout=2.5"
    )
    assert options.conninfo == "postgresql://u:p@db:5433/reg?sslmode=require"
    assert (options.min_size, options.max_size, options.timeout) == (1, 20, 2.5)
    assert options.connect_kwargs == {"connect_timeout": 5, "application_name": "dockyard"}
    given = parse_url("postgres://db/reg?connect_timeout=1&pool_min_size=0")
    assert given.conninfo == "postgres://db/reg?connect_timeout=1"
    assert given.min_size == 0
    assert "connect_timeout" not in given.connect_kwargs


@pytest.mark.parametrize(
    "query",
    ["pool_max_size=lots", "pool_min_size=5&pool_max_size=2", "pool_max_size=0", "pool_timeout=0"],
)
def test_bad_pool_parameters_are_refused(query: str) -> None:
    with pytest.raises(ValueError, match=r"dockyard\.database"):
        parse_url(f"postgresql://db/reg?{query}")


# availability ----------------------------------------------------------------------------


def test_nothing_connects_until_used(run: Run) -> None:
    database = PostgresDatabase(f"postgresql://u:p@127.0.0.1:{free_port()}/none")
    database.close()  # what `dockyard serve` does in the parent before forking workers
    assert database._pool is None


def test_unreachable_database_is_unavailable_not_an_error(run: Run) -> None:
    database = PostgresDatabase(f"postgresql://u:p@127.0.0.1:{free_port()}/none?pool_timeout=1")
    metadata = SqlMetadata(database)
    run(database.open())  # starts anyway: requests answer 503 until the database is back
    started = time.monotonic()
    for call in (metadata.any_blob(BLOB), metadata.commit_blob("r", BLOB, 1), database.migrate()):
        with pytest.raises(RegistryError) as caught:
            run(call)
        assert caught.value.code is ErrorCode.UNAVAILABLE
        assert caught.value.status == 503
    assert time.monotonic() - started < 10
    run(database.aclose())


def test_connections_lost_while_idle_are_replaced(run: Run, pg_server: PostgresServer) -> None:
    """As after a PostgreSQL restart: the pool's idle connections are dead; nothing fails."""
    url = pg_server.create_database("idle") + "?pool_min_size=3&pool_max_size=3"
    db = PostgresDatabase(url)
    metadata = SqlMetadata(db)

    async def main() -> None:
        await db.open()
        await metadata.commit_blob("repo", BLOB, 1)
        await asyncio.gather(*(metadata.any_blob(BLOB) for _ in range(6)))
        async with await psycopg.AsyncConnection.connect(pg_server.url("postgres")) as admin:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (url.split("/")[-1].split("?")[0],),
            )
        assert await metadata.linked_blob("repo", BLOB) is not None
        assert await metadata.link_blob("other", BLOB) is not None
        await db.aclose()

    run(main())


# retries ---------------------------------------------------------------------------------


def test_serialization_failures_are_retried(run: Run, pg_database: Database) -> None:
    database = pg_database
    attempts: list[int] = []

    async def flaky(session: Session) -> str:
        attempts.append(1)
        await session.execute("INSERT INTO repositories(name, created_at) VALUES ('r', 0)")
        if len(attempts) < 3:
            raise psycopg.errors.SerializationFailure("could not serialize access")
        return "done"

    assert run(database.transaction(flaky)) == "done"
    assert len(attempts) == 3
    assert run(database.fetchall("SELECT name FROM repositories")) == [("r",)], "once"

    async def hopeless(session: Session) -> None:
        attempts.append(1)
        raise psycopg.errors.DeadlockDetected("deadlock detected")

    attempts.clear()
    with pytest.raises(RegistryError) as caught:
        run(database.transaction(hopeless))
    assert caught.value.code is ErrorCode.UNAVAILABLE
    assert len(attempts) == MAX_ATTEMPTS


def test_two_nodes_pushing_one_tag_last_writer_wins(run: Run, pg_server: PostgresServer) -> None:
    url = pg_server.create_database("race")
    nodes = [PostgresDatabase(url), PostgresDatabase(url)]
    one, two = (SqlMetadata(node) for node in nodes)
    first, second = new_manifest("one", "latest"), new_manifest("two", "latest")

    async def main() -> None:
        await asyncio.gather(*(node.open() for node in nodes))
        await asyncio.gather(one.commit_blob("repo", BLOB, 4), two.commit_blob("repo", BLOB, 4))
        for _ in range(10):  # both write the same tag (and repository) at the same time
            results = await asyncio.gather(
                one.put_manifest("repo", first), two.put_manifest("repo", second)
            )
            assert results == [[], []]
        await one.put_manifest("repo", first)
        await two.put_manifest("repo", second)
        for metadata in (one, two):
            latest = await metadata.manifest_by_tag("repo", "latest")
            assert latest is not None and latest.digest == second.digest
        assert await one.list_tags("repo", "", 10) == ["latest"]
        assert await two.list_repositories("", 10) == ["repo"]
        await asyncio.gather(*(node.aclose() for node in nodes))

    run(main())


# migrations ------------------------------------------------------------------------------


def test_nodes_starting_at_once_migrate_once(run: Run, pg_server: PostgresServer) -> None:
    url = pg_server.create_database("fresh")
    nodes = [PostgresDatabase(url) for _ in range(6)]

    async def main() -> list[int]:
        return list(await asyncio.gather(*(node.migrate() for node in nodes)))

    assert run(main()) == [len(schema.MIGRATIONS)] * len(nodes)
    with psycopg.connect(url) as conn:
        sql = f"SELECT version FROM {schema.VERSION_TABLE} ORDER BY 1"  # noqa: S608
        rows = conn.execute(sql).fetchall()
    assert rows == [(n,) for n in range(1, len(schema.MIGRATIONS) + 1)]
