"""The S3 driver's direct writer against a real SeaweedFS: one object streamed to its final key.

The writer behind pushes that name their digest up front (``direct_writer``): parts upload while
the bytes arrive yet nothing is visible before ``commit``, a failure or an ``abort`` leaves no
multipart upload behind, memory stays within a few parts, the configured storage class applies;
and through a real server, such a push is a direct write and no move. The uploads service's side
is in ``test_storage_s3_direct_push.py``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import tracemalloc
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import httpx
import msgspec
import pytest

from dockyard.config.model import S3Settings
from dockyard.storage.driver import StorageError, StorageUnavailableError
from dockyard.storage.drivers.s3 import S3Driver
from dockyard.storage.drivers.s3_options import options_from_settings
from dockyard.storage.testing import exists, noise, read_all
from support.oci import sha256
from support.s3_direct import (
    MIB,
    PART,
    failing_after_first_part,
    keys,
    pending_uploads,
    small_part_driver,
)
from support.seaweed import SeaweedFS, session_seaweed, unique_root
from support.server import free_port, serving

T = TypeVar("T")


@pytest.fixture(scope="session")
def weed(tmp_path_factory: pytest.TempPathFactory) -> SeaweedFS:
    return session_seaweed(tmp_path_factory)


@pytest.fixture
def driver(weed: SeaweedFS) -> S3Driver:
    return small_part_driver(weed)


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


# the writer --------------------------------------------------------------------------------------


def test_parts_stream_before_commit_yet_nothing_is_visible(driver: S3Driver) -> None:
    data = noise(3 * PART + 5, seed=1)

    async def main() -> None:
        writer = await driver.direct_writer("blobs/x/data")
        for start in range(0, len(data), MIB):
            await writer.write(data[start : start + MIB])
        assert await pending_uploads(driver) == ["blobs/x/data"], "parts are on their way"
        assert not await exists(driver, "blobs/x/data")
        await writer.commit()
        assert await pending_uploads(driver) == []
        assert await keys(driver) == ["blobs/x/data"]
        assert await read_all(driver, "blobs/x/data") == data

        aborted = await driver.direct_writer("blobs/y/data")
        for start in range(0, len(data), MIB):
            await aborted.write(data[start : start + MIB])
        await aborted.abort()
        assert await pending_uploads(driver) == [], "the multipart upload was aborted"
        assert await keys(driver) == ["blobs/x/data"]

    run(main())


def test_a_failing_part_aborts_the_upload(
    driver: S3Driver, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = failing_after_first_part(driver.objects.put_stream)

    monkeypatch.setattr(driver.objects, "put_stream", broken)

    async def main() -> None:
        writer = await driver.direct_writer("blobs/z/data")
        with pytest.raises(StorageUnavailableError):
            for _ in range(6):
                await writer.write(noise(PART, seed=2))
            await writer.commit()
        with pytest.raises(StorageError):
            await writer.commit()
        await writer.abort()
        assert await pending_uploads(driver) == []
        assert not await exists(driver, "blobs/z/data")

    run(main())


def test_direct_writer_memory_stays_within_a_few_parts(driver: S3Driver) -> None:
    chunk = noise(64 * 1024, seed=3)

    async def main() -> None:
        writer = await driver.direct_writer("blobs/big/data")
        try:
            for _ in range(8 * PART // len(chunk)):
                await writer.write(chunk)
            await writer.commit()
        finally:
            await writer.abort()

    tracemalloc.start()
    try:
        run(main())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5 * PART, f"peak {peak / MIB:.1f} MiB for {8 * PART // MIB} MiB"


def test_the_configured_storage_class_is_applied(weed: SeaweedFS) -> None:
    """As on blobs published by a server-side copy (``storage.s3.storageclass``)."""
    settings = msgspec.convert(weed.settings(unique_root("class")), S3Settings)
    options = options_from_settings(settings, redirect=False)
    driver = S3Driver(dataclasses.replace(options, part_size=PART, storage_class="STANDARD_IA"))

    async def main() -> None:
        for path, size in (("blobs/small/data", 10), ("blobs/parts/data", 2 * PART + 1)):
            writer = await driver.direct_writer(path)
            await writer.write(noise(size, seed=4))
            await writer.commit()
            head = await driver.control._call(
                path, "head_object", Bucket=options.bucket, Key=options.key(path)
            )
            assert (head["ContentLength"], head.get("StorageClass")) == (size, "STANDARD_IA")

    run(main())


# through a server -------------------------------------------------------------------------------


def test_server_metrics_show_a_direct_write_and_no_move(weed: SeaweedFS, tmp_path: Path) -> None:
    debug = free_port()
    env = {
        **weed.env(unique_root("direct-serve")),
        "REGISTRY_DOCKYARD_DATABASE": f"sqlite:///{tmp_path / 'metadata.db'}",
        "REGISTRY_STORAGE_REDIRECT_DISABLE": "true",
        "REGISTRY_HTTP_DEBUG_ADDR": f"127.0.0.1:{debug}",
        "REGISTRY_HTTP_DEBUG_PROMETHEUS_ENABLED": "true",
    }
    data = noise(3 * MIB + 5, seed=16)
    with serving(tmp_path, env=env) as server, server.client() as client:
        location = client.post("/v2/r/direct/blobs/uploads/").headers["Location"]
        done = client.put(location, params={"digest": sha256(data)}, content=data)
        assert done.status_code == 201, done.text
        assert client.get(f"/v2/r/direct/blobs/{sha256(data)}").content == data
        metrics = httpx.get(f"http://127.0.0.1:{debug}/metrics").text
    assert 'registry_storage_action_total{action="direct_writer",driver="s3"} 1.0' in metrics
    assert 'action="move"' not in metrics
