"""The S3 driver against a real SeaweedFS: the shared suite, composition, failures, redirects."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import httpx
import msgspec
import pytest

from dockyard.config.model import S3Settings
from dockyard.storage.driver import StorageDriver, StorageUnavailableError
from dockyard.storage.drivers.s3 import S3Driver
from dockyard.storage.drivers.s3_layout import (
    MAX_PART,
    MIB,
    MIN_PART,
    Piece,
    arrange,
    plan_parts,
    segment_key,
)
from dockyard.storage.drivers.s3_options import (
    PART_SIZE_MAX,
    PART_SIZE_MIN,
    S3Options,
    options_from_settings,
)
from dockyard.storage.testing import StorageDriverSuite, exists, noise, read_all
from dockyard.storage.testing_scale import BLOB, UPLOAD, append_requests
from support.oci import push_blob, sha256
from support.s3_direct import failing_after_first_part
from support.seaweed import SeaweedFS, session_seaweed, start_seaweed, unique_root
from support.server import free_port, serving

T = TypeVar("T")
#: The smallest part S3 takes, so that the suite's multipart objects stay small.
TEST_PART = 5 * MIB


@pytest.fixture(scope="session")
def weed(tmp_path_factory: pytest.TempPathFactory) -> SeaweedFS:
    return session_seaweed(tmp_path_factory)


def driver_options(weed: SeaweedFS, root: str, **changes: Any) -> S3Options:
    """Options for ``weed`` with S3's smallest parts, so that multipart paths run on MiBs."""
    settings = msgspec.convert(weed.settings(root), S3Settings)
    options = options_from_settings(settings, redirect=True)
    small = {"part_size": TEST_PART, "copy_chunk": TEST_PART, "copy_threshold": TEST_PART}
    return dataclasses.replace(options, **{**small, **changes})


class TestS3Driver(StorageDriverSuite):
    part_size: ClassVar[int] = TEST_PART

    @pytest.fixture(autouse=True)
    def _weed(self, weed: SeaweedFS) -> None:
        self.weed = weed

    def make_driver(self, tmp_path: Path) -> StorageDriver:
        return S3Driver(driver_options(self.weed, unique_root("suite")))


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


@pytest.fixture
def driver(weed: SeaweedFS) -> S3Driver:
    return S3Driver(driver_options(weed, unique_root("s3")))


async def keys_below(driver: S3Driver, path: str = "") -> list[str]:
    prefix = driver.options.key(path) if path else driver.options.root
    return sorted(driver.options.path(m.key) for m in await driver.objects.list_tree(prefix))


async def pending_uploads(driver: S3Driver) -> list[str]:
    response = await driver.control._call(
        "uploads",
        "list_multipart_uploads",
        Bucket=driver.options.bucket,
        Prefix=driver.options.root + "/",
    )
    return [upload["Key"] for upload in response.get("Uploads", [])]


# layout and composition plans (no I/O) --------------------------------------------------------


def test_arrange_keeps_the_run_from_zero_and_marks_the_rest() -> None:
    listed = [
        (segment_key("f", 10), 5),
        (segment_key("f", 0), 10),
        (segment_key("f", 12), 3),  # overlaps: garbage
        (segment_key("f", 15), 1),
        ("f.segments/not-a-segment", 1),
    ]
    segments = arrange(listed)
    assert [s.start for s in segments.run] == [0, 10, 15]
    assert segments.size == 16
    assert sorted(segments.garbage) == sorted([segment_key("f", 12), "f.segments/not-a-segment"])
    assert arrange([(segment_key("f", 3), 1)]).run == ()


@pytest.mark.parametrize(
    "sizes",
    [
        [1],
        [3 * MIB, 3 * MIB, 3 * MIB],
        [20 * MIB],
        [1000, 20 * MIB, 10],
        [4 * MIB, 6 * MIB, 1, 5 * MIB, 2 * MIB],
        [MIB] * 40,
        [7 * MIB, 100, 7 * MIB, 100, 7 * MIB],
    ],
)
def test_plan_parts_respects_s3_rules(sizes: list[int]) -> None:
    sources = [Piece(f"s{n}", 0, size) for n, size in enumerate(sizes)]
    parts = plan_parts(sources, copy_chunk=5 * MIB, merge_target=16 * MIB)
    covered = [(p.key, p.start, p.end) for part in parts for p in part.pieces]
    expected, position = [], {}
    for key, start, end in covered:  # pieces of a source are contiguous and in order
        assert position.get(key, 0) == start
        position[key] = end
        expected.append(key)
    assert position == {s.key: s.size for s in sources}
    assert expected == sorted(expected, key=lambda k: int(k[1:]))
    for part in parts[:-1]:
        assert part.size >= MIN_PART
    for part in parts:
        assert part.size <= (MAX_PART if part.copy else 16 * MIB + 2 * MIN_PART)
        assert not part.copy or len(part.pieces) == 1


def test_plan_copies_large_segments_and_merges_small_ones() -> None:
    sources = [Piece("a", 0, 1000), Piece("b", 0, 40 * MIB), Piece("c", 0, 10)]
    parts = plan_parts(sources, copy_chunk=8 * MIB, merge_target=16 * MIB)
    uploaded = sum(p.size for p in parts if not p.copy)
    assert uploaded == MIN_PART + 10, "only the small ends travel through dockyard"
    assert sum(p.size for p in parts if p.copy) == 40 * MIB + 1000 - MIN_PART


def test_options_follow_registry2_keys() -> None:
    settings = S3Settings(
        bucket="b",
        region="",
        regionendpoint="minio:9000",
        secure=False,
        chunksize=5 * MIB,
        rootdirectory="/registry/",
        forcepathstyle=True,
    )
    options = options_from_settings(settings, redirect=False)
    assert options.endpoint_url == "http://minio:9000"
    assert options.region == "us-east-1"
    assert options.part_size == PART_SIZE_MIN
    assert options.key("docker/x") == "registry/docker/x"
    assert options.path("registry/docker/x") == "docker/x"
    assert options.path_style and options.allow_http and not options.redirect
    big = options_from_settings(S3Settings(bucket="b", chunksize=1 << 30), redirect=True)
    assert big.part_size == PART_SIZE_MAX
    assert big.endpoint_url == "" and not big.allow_http


# against SeaweedFS ------------------------------------------------------------------------------


def test_appends_become_segments_and_publish_leaves_one_object(driver: S3Driver) -> None:
    async def main() -> None:
        chunks = [noise(1000), noise(TEST_PART + 1, seed=1), noise(10, seed=2)]
        await append_requests(driver, UPLOAD, chunks)
        assert await keys_below(driver, UPLOAD + ".segments") == [
            segment_key(UPLOAD, 0),
            segment_key(UPLOAD, 1000),
            segment_key(UPLOAD, TEST_PART + 1001),
        ]
        await driver.move(UPLOAD, BLOB)
        assert await keys_below(driver) == [BLOB]
        assert await pending_uploads(driver) == []
        assert await read_all(driver, BLOB) == b"".join(chunks)

    run(main())


def test_large_segments_are_copied_server_side(
    driver: S3Driver, monkeypatch: pytest.MonkeyPatch
) -> None:
    uploaded: list[int] = []
    real_upload = driver.control.upload_part

    async def counting(key: str, upload_id: str, number: int, body: bytes) -> str:
        uploaded.append(len(body))
        return await real_upload(key, upload_id, number, body)

    monkeypatch.setattr(driver.control, "upload_part", counting)

    async def main() -> None:
        chunks = [noise(3 * TEST_PART, seed=3), noise(2 * TEST_PART + 5, seed=4), b"end"]
        await append_requests(driver, UPLOAD, chunks)
        await driver.move(UPLOAD, BLOB)
        assert await read_all(driver, BLOB) == b"".join(chunks)

    run(main())
    assert uploaded == [3], "only the 3-byte tail is re-uploaded"


def test_failed_publish_leaves_no_destination(
    driver: S3Driver, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def fail(key: str, upload_id: str, etags: list[str]) -> None:
        raise StorageUnavailableError("S3 went away")

    async def main() -> None:
        chunks = [noise(TEST_PART + 1, seed=5), noise(100, seed=6)]
        await append_requests(driver, UPLOAD, chunks)
        monkeypatch.setattr(driver.control, "complete_multipart", fail)
        with pytest.raises(StorageUnavailableError):
            await driver.move(UPLOAD, BLOB)
        assert not await exists(driver, BLOB)
        assert await pending_uploads(driver) == [], "the multipart upload was aborted"
        assert await read_all(driver, UPLOAD) == b"".join(chunks), "the source is intact"

    run(main())


def test_failed_append_counts_only_stored_bytes(
    driver: S3Driver, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = failing_after_first_part(driver.objects.put_stream)

    async def main() -> None:
        await append_requests(driver, UPLOAD, [b"committed"])
        monkeypatch.setattr(driver.objects, "put_stream", broken)
        writer = await driver.writer(UPLOAD, append=True)
        with pytest.raises(StorageUnavailableError):
            for _ in range(4):
                await writer.write(noise(TEST_PART, seed=7))
            await writer.close()
        await writer.close()
        assert writer.size == len(b"committed")
        assert (await driver.stat(UPLOAD)).size == len(b"committed")
        assert await pending_uploads(driver) == []

    run(main())


def test_writer_memory_stays_within_a_few_parts(driver: S3Driver) -> None:
    chunk = noise(64 * 1024, seed=8)

    async def main() -> None:
        writer = await driver.writer(UPLOAD, append=True)
        try:
            for _ in range(8 * TEST_PART // len(chunk)):
                await writer.write(chunk)
        finally:
            await writer.close()

    tracemalloc.start()
    try:
        run(main())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5 * TEST_PART, f"peak {peak / MIB:.1f} MiB for {8 * TEST_PART // MIB} MiB"


def test_root_directories_do_not_see_each_other(weed: SeaweedFS) -> None:
    first = S3Driver(driver_options(weed, unique_root("iso")))
    second = S3Driver(driver_options(weed, unique_root("iso")))

    async def main() -> None:
        await first.put_content("same/path", b"first")
        assert not await exists(second, "same/path")
        await second.delete("same")
        assert await first.get_content("same/path") == b"first"

    run(main())


def test_unreachable_s3_raises_storage_unavailable(weed: SeaweedFS) -> None:
    options = driver_options(
        weed,
        "gone",
        endpoint=f"http://127.0.0.1:{free_port()}",
        retry_seconds=2.0,
        connect_timeout_seconds=1.0,
    )
    driver = S3Driver(options)
    operations: dict[str, Callable[[], Awaitable[object]]] = {
        "stat": lambda: driver.stat("a/b"),
        "writer": lambda: driver.writer("a/b", append=True),
        "read": lambda: read_all(driver, "a/b", 0, 10),
        "put_content": lambda: driver.put_content("a/b", b"x"),
        "delete": lambda: driver.delete("a"),
        "list": lambda: driver.list("a"),
        "move": lambda: driver.move("a/b", "c/d"),
    }

    async def main() -> None:
        for name, operation in operations.items():
            started = time.monotonic()
            with pytest.raises(StorageUnavailableError):
                await operation()
            assert time.monotonic() - started < 10, name

    run(main())


# through dockyard serve ------------------------------------------------------------------------


def s3_server_env(weed: SeaweedFS, workdir: Path, *, redirect: bool) -> dict[str, str]:
    return {
        **weed.env(unique_root("serve")),
        "REGISTRY_DOCKYARD_DATABASE": f"sqlite:///{workdir / 'metadata.db'}",
        "REGISTRY_STORAGE_REDIRECT_DISABLE": "false" if redirect else "true",
    }


def start_upload(client: httpx.Client, repo: str) -> str:
    response = client.post(f"/v2/{repo}/blobs/uploads/")
    assert response.status_code == 202, response.text
    return str(response.headers["Location"])


def patch(client: httpx.Client, location: str, data: bytes) -> httpx.Response:
    headers = {"Content-Type": "application/octet-stream"}
    return client.patch(location, content=data, headers=headers)


def test_blob_get_redirects_to_a_presigned_url(weed: SeaweedFS, tmp_path: Path) -> None:
    data = noise(3 * MIB + 17, seed=20)
    env = s3_server_env(weed, tmp_path, redirect=True)
    with serving(tmp_path, env=env) as running, running.client() as client:
        push_blob(client, "r/redirect", data)
        url = f"/v2/r/redirect/blobs/{sha256(data)}"
        response = client.get(url)
        assert response.status_code == 307
        location = response.headers["Location"]
        assert location.startswith(weed.endpoint) and "X-Amz-Signature=" in location
        assert response.headers["Docker-Content-Digest"] == sha256(data)
        followed = client.get(url, follow_redirects=True)
        assert followed.status_code == 200 and followed.content == data
        ranged = client.get(url, headers={"Range": "bytes=10-19"}, follow_redirects=True)
        assert ranged.status_code == 206 and ranged.content == data[10:20]
        head = client.head(url)
        assert head.status_code == 200, "HEAD is answered by dockyard itself"
        assert head.headers["Content-Length"] == str(len(data))


def test_upload_continues_on_another_node(weed: SeaweedFS, tmp_path: Path) -> None:
    """Two servers share the bucket and the database: each PATCH may land on either."""
    data = noise(2 * MIB + 99, seed=21)
    env = s3_server_env(weed, tmp_path, redirect=False)
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    with (
        serving(tmp_path / "a", env=env) as first,
        serving(tmp_path / "b", env=env) as second,
        first.client() as one,
        second.client() as other,
    ):
        location = start_upload(one, "r/nodes")
        assert patch(one, location, data[:MIB]).status_code == 202
        moved = patch(other, location, data[MIB:])  # other node: rehashes the first MiB
        assert moved.status_code == 202, moved.text
        assert moved.headers["Range"] == f"0-{len(data) - 1}"
        done = one.put(moved.headers["Location"], params={"digest": sha256(data)})
        assert done.status_code == 201, done.text
        assert other.get(f"/v2/r/nodes/blobs/{sha256(data)}").content == data


@pytest.mark.slow
def test_s3_outage_answers_503_then_recovers(tmp_path: Path) -> None:
    weed = start_seaweed(tmp_path / "weed")
    try:
        env = s3_server_env(weed, tmp_path, redirect=False)
        (tmp_path / "server").mkdir()
        with serving(tmp_path / "server", env=env) as running, running.client() as client:
            _outage_and_recovery(client, weed)
    finally:
        weed.stop()


def _outage_and_recovery(client: httpx.Client, weed: SeaweedFS) -> None:
    stored, data = noise(100_000, seed=22), noise(300_000, seed=23)
    push_blob(client, "r/outage", stored)
    location = start_upload(client, "r/outage")
    assert patch(client, location, data[:100_000]).status_code == 202
    weed.stop()
    blob_url = f"/v2/r/outage/blobs/{sha256(stored)}"
    for response in (
        client.get(blob_url),
        # A small body: the server answers before reading it, and a large unread body can
        # turn the response into a connection reset (whatever the error).
        patch(client, location, b"lost" * 256),
        client.get(location),
        client.post("/v2/r/outage/blobs/uploads/"),
    ):
        assert response.status_code == 503, response.text
        assert response.json()["errors"][0]["code"] == "UNAVAILABLE"
    assert client.head(blob_url).status_code == 200, "metadata-only requests still work"
    weed.start()
    assert client.get(location).headers["Range"] == "0-99999", "nothing of the failed PATCH"
    resumed = patch(client, location, data[100_000:])
    assert resumed.status_code == 202, resumed.text
    assert resumed.headers["Range"] == f"0-{len(data) - 1}"
    done = client.put(resumed.headers["Location"], params={"digest": sha256(data)})
    assert done.status_code == 201, done.text
    assert client.get(f"/v2/r/outage/blobs/{sha256(data)}").content == data
    assert client.get(blob_url).content == stored
