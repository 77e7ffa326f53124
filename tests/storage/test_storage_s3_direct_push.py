"""Pushes whose digest is known up front go straight to the blob's key on S3 (real SeaweedFS).

The uploads service with the S3 driver and a real SQLite database: a POST then one PUT (or a
single POST) with the digest writes every byte once, at the final key, and copies nothing; a
wrong digest, a client that leaves mid-body, a blob already stored, a quota refusal mid-body and
garbage collection deleting the same digest each leave the right state behind. The writer
itself is tested in ``test_storage_s3_direct.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from dockyard.api.http import ClientDisconnectedError
from dockyard.auth.policy import AccessPolicy
from dockyard.auth.principal import Principal
from dockyard.core.digest import parse_digest
from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.persistence.sql import SqlMetadata
from dockyard.persistence.sql.lifecycle import SqlLifecycleStore
from dockyard.persistence.sql.usage import SqlUsage
from dockyard.persistence.sqlite import SqliteDatabase
from dockyard.services.lifecycle.quotas import QuotaExceededError, QuotaPolicy, QuotaService
from dockyard.services.registry import RegistryOptions
from dockyard.services.registry.uploads import UploadService
from dockyard.storage.drivers.s3 import S3Driver
from dockyard.storage.layout import blob_path
from dockyard.storage.testing import exists, noise, read_all
from support.oci import sha256
from support.s3_direct import PART, keys, pending_uploads, small_part_driver
from support.seaweed import SeaweedFS, session_seaweed

T = TypeVar("T")
REPO = "team/app"
ME = Principal("tester")


@pytest.fixture(scope="session")
def weed(tmp_path_factory: pytest.TempPathFactory) -> SeaweedFS:
    return session_seaweed(tmp_path_factory)


@pytest.fixture
def driver(weed: SeaweedFS) -> S3Driver:
    return small_part_driver(weed)


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


async def chunks(data: bytes, size: int = 256 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def then_gone(data: bytes) -> AsyncIterator[bytes]:
    """A body whose client leaves after ``data``, as the API's request stream reports it."""
    async for chunk in chunks(data):
        yield chunk
    raise ClientDisconnectedError


class Writes:
    """Every byte the driver sends to S3, per key, and how each multipart stream ended."""

    def __init__(self, driver: S3Driver, monkeypatch: pytest.MonkeyPatch) -> None:
        self.bytes: dict[str, int] = {}
        self.streams: list[tuple[str, str]] = []  # (path, "completed" | "aborted")
        real_put, real_stream = driver.objects.put, driver.objects.put_stream
        self.path = driver.options.path

        async def put(key: str, data: bytes, **options: Any) -> None:
            self._count(key, len(data))
            await real_put(key, data, **options)

        async def put_stream(key: str, parts: AsyncIterable[Any], **options: Any) -> None:
            async def counted() -> AsyncIterator[Any]:
                async for part in parts:
                    self._count(key, len(part))
                    yield part

            try:
                await real_stream(key, counted(), **options)
            except BaseException:
                self.streams.append((self.path(key), "aborted"))
                raise
            self.streams.append((self.path(key), "completed"))

        monkeypatch.setattr(driver.objects, "put", put)
        monkeypatch.setattr(driver.objects, "put_stream", put_stream)
        for copying in ("copy_object", "copy_part", "upload_part", "create_multipart"):
            monkeypatch.setattr(driver.control, copying, self._no_copy)

    def _count(self, key: str, size: int) -> None:
        path = self.path(key)
        self.bytes[path] = self.bytes.get(path, 0) + size

    async def _no_copy(self, *args: object, **kwargs: object) -> str:
        raise AssertionError("a direct push never copies or composes")

    def nonempty(self) -> dict[str, int]:
        return {path: size for path, size in self.bytes.items() if size}


def service(driver: S3Driver, tmp_path: Path, quotas: QuotaService | None = None) -> UploadService:
    metadata = SqlMetadata(SqliteDatabase(str(tmp_path / "metadata.db")))
    policy = AccessPolicy(authentication_required=False)
    return UploadService(driver, metadata, policy, RegistryOptions(), quotas=quotas)


def test_post_then_put_writes_the_bytes_once_at_the_final_key(
    driver: S3Driver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = noise(2 * PART + 777, seed=10)
    uploads = service(driver, tmp_path)

    async def main() -> None:
        writes = Writes(driver, monkeypatch)
        record = await uploads.start(ME, REPO)
        blob = await uploads.complete(ME, REPO, record.id, sha256(data), chunks(data),
                                      length=len(data))  # fmt: skip
        assert blob.digest == sha256(data) and blob.size == len(data)
        final = blob_path(parse_digest(sha256(data)))
        assert writes.nonempty() == {final: len(data)}, "every byte written once, there"
        assert writes.streams == [(final, "completed")]
        assert await keys(driver) == [final], "no segments, the session is gone"
        assert await pending_uploads(driver) == []
        assert await read_all(driver, final) == data
        assert await uploads.metadata.linked_blob(REPO, sha256(data)) is not None
        with pytest.raises(RegistryError) as gone:
            await uploads.find(ME, REPO, record.id)
        assert gone.value.code is ErrorCode.BLOB_UPLOAD_UNKNOWN

        small = b"a small blob, one PUT"
        await uploads.monolithic(ME, REPO, sha256(small), chunks(small), length=len(small))
        small_path = blob_path(parse_digest(sha256(small)))
        assert writes.nonempty() == {final: len(data), small_path: len(small)}
        assert await read_all(driver, small_path) == small

    run(main())


def test_wrong_digest_leaves_nothing_under_any_digest(driver: S3Driver, tmp_path: Path) -> None:
    data = noise(2 * PART + 1, seed=11)
    wrong = sha256(b"something else")
    uploads = service(driver, tmp_path)

    async def main() -> None:
        with pytest.raises(RegistryError) as refused:
            await uploads.monolithic(ME, REPO, wrong, chunks(data), length=len(data))
        assert refused.value.code is ErrorCode.DIGEST_INVALID
        record = await uploads.start(ME, REPO)
        with pytest.raises(RegistryError) as mismatch:
            await uploads.complete(ME, REPO, record.id, wrong, chunks(data), length=len(data))
        assert mismatch.value.code is ErrorCode.DIGEST_INVALID
        assert await keys(driver) == [], "nothing published, and the session is cancelled"
        assert await pending_uploads(driver) == []
        for digest in (wrong, sha256(data)):
            assert await uploads.metadata.any_blob(digest) is None

    run(main())


def test_client_leaving_mid_body_keeps_the_session_where_it_was(
    driver: S3Driver, tmp_path: Path
) -> None:
    data = noise(3 * PART, seed=12)
    uploads = service(driver, tmp_path)

    async def main() -> None:
        record = await uploads.start(ME, REPO)
        with pytest.raises(ClientDisconnectedError):
            await uploads.complete(ME, REPO, record.id, sha256(data), then_gone(data[: 2 * PART]),
                                   length=len(data))  # fmt: skip
        assert await pending_uploads(driver) == []
        assert not await exists(driver, blob_path(parse_digest(sha256(data))))
        same = await uploads.find(ME, REPO, record.id)
        assert same.offset == 0 and await uploads.offset(same) == 0
        blob = await uploads.complete(ME, REPO, record.id, sha256(data), chunks(data),
                                      length=len(data))  # fmt: skip
        assert blob.size == len(data), "the client can simply try again"
        assert await read_all(driver, blob_path(parse_digest(blob.digest))) == data

    run(main())


def test_a_stored_blob_is_not_written_again(
    driver: S3Driver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = noise(PART + 10, seed=13)
    uploads = service(driver, tmp_path)
    final = blob_path(parse_digest(sha256(data)))

    async def main() -> None:
        await uploads.monolithic(ME, REPO, sha256(data), chunks(data), length=len(data))
        before = await driver.objects.head(driver.options.key(final))
        writes = Writes(driver, monkeypatch)
        record = await uploads.start(ME, "team/other")
        blob = await uploads.complete(ME, "team/other", record.id, sha256(data), chunks(data),
                                      length=len(data))  # fmt: skip
        assert blob.size == len(data)
        assert writes.streams == [(final, "aborted")], "verified, then not completed"
        assert await pending_uploads(driver) == []
        assert await driver.objects.head(driver.options.key(final)) == before
        assert await uploads.metadata.linked_blob("team/other", sha256(data)) is not None

    run(main())


def test_quota_refusal_mid_body_aborts_and_ends_the_session(
    driver: S3Driver, tmp_path: Path
) -> None:
    database = SqliteDatabase(str(tmp_path / "quota.db"))
    policy = QuotaPolicy(projects={"team": 3 * PART})
    quotas = QuotaService(SqlUsage(database), SqlLifecycleStore(database), policy)
    uploads = UploadService(
        driver, SqlMetadata(database), AccessPolicy(authentication_required=False),
        RegistryOptions(), quotas=quotas,
    )  # fmt: skip
    data = noise(4 * PART, seed=14)

    async def main() -> None:
        record = await uploads.start(ME, REPO)
        with pytest.raises(QuotaExceededError):  # no Content-Length: cut off where it ends
            await uploads.complete(ME, REPO, record.id, sha256(data), chunks(data))
        with pytest.raises(QuotaExceededError):
            await uploads.monolithic(ME, REPO, sha256(data), chunks(data))
        assert await pending_uploads(driver) == [], "parts had gone out: aborted"
        assert await keys(driver) == []
        with pytest.raises(RegistryError) as gone:
            await uploads.find(ME, REPO, record.id)
        assert gone.value.code is ErrorCode.BLOB_UPLOAD_UNKNOWN

    run(main())


def test_push_waits_for_a_sweep_deleting_the_same_digest(driver: S3Driver, tmp_path: Path) -> None:
    """GC took the blob to ``deleting`` and is about to remove its bytes: the push must not
    take the stored bytes for its own (and abort) but wait, then publish its own."""
    data = noise(PART + 3, seed=15)
    digest = sha256(data)
    final = blob_path(parse_digest(digest))
    uploads = service(driver, tmp_path)
    metadata = uploads.metadata
    assert isinstance(metadata, SqlMetadata)
    claims: list[str] = []
    real_claim = metadata.claim_blob

    async def claim(digest: str, size: int) -> str:
        claims.append(await real_claim(digest, size))
        if claims[-1] == "deleting" and len(claims) == 2:  # the sweep finishes meanwhile
            await driver.delete(final)
            await metadata.db.execute("DELETE FROM repository_blobs")
            await metadata.db.execute("DELETE FROM blobs WHERE digest = ?", (digest,))
        return claims[-1]

    async def main() -> None:
        await uploads.monolithic(ME, "team/old", digest, chunks(data), length=len(data))
        await metadata.db.execute("UPDATE blobs SET state = 'deleting' WHERE digest = ?",
                                  (digest,))  # fmt: skip
        uploads.metadata.claim_blob = claim  # type: ignore[method-assign]
        blob = await uploads.monolithic(ME, REPO, digest, chunks(data), length=len(data))
        assert claims[:2] == ["deleting", "deleting"] and claims[-1] == "publishing"
        assert blob.size == len(data)
        assert await read_all(driver, final) == data, "published after the sweep, not lost"
        assert await pending_uploads(driver) == []
        found = await metadata.linked_blob(REPO, digest)
        assert found is not None and found.size == len(data)

    run(main())
