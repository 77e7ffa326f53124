"""Object data calls through obstore (Rust, async): GET and PUT streams, HEAD, LIST, DELETE, sign.

obstore moves the bytes with the least CPU per GiB; every call here maps its errors onto the
storage errors: a missing object is :class:`PathNotFoundError`, a backend that cannot be
reached or keeps answering 5xx (after obstore's bounded retries) is
:class:`StorageUnavailableError`, anything else (denied, misconfigured) is StorageError.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import obstore
from obstore.exceptions import BaseError, GenericError, NotFoundError
from obstore.store import S3Store

from dockyard.storage.driver import PathNotFoundError, StorageError, StorageUnavailableError
from dockyard.storage.drivers.s3_options import S3Options

if TYPE_CHECKING:
    from obstore import Attributes, ObjectMeta

READ_CHUNK = 1 << 20
SIGNED_URL_LIFETIME = timedelta(minutes=20)  # as registry:2
_CHECK_CONCURRENCY = 16


@dataclass(frozen=True, slots=True)
class Meta:
    key: str
    size: int
    modified: float


def _meta(raw: ObjectMeta) -> Meta:
    return Meta(raw["path"], raw["size"], raw["last_modified"].timestamp())


@contextmanager
def mapped_errors(what: str) -> Iterator[None]:
    """Re-raise obstore failures as storage errors naming ``what`` (a path or a key)."""
    try:
        yield
    except (NotFoundError, FileNotFoundError):  # obstore raises the builtin for a 404
        raise PathNotFoundError(what) from None
    except GenericError as exc:
        if "416 Range Not Satisfiable" in str(exc):
            raise StorageError(f"{what}: range beyond the end of the object") from None
        raise StorageUnavailableError(f"S3 unavailable ({what}): {_first_line(exc)}") from exc
    except BaseError as exc:
        raise StorageError(f"S3 request failed ({what}): {_first_line(exc)}") from exc


def _first_line(exc: Exception) -> str:
    return str(exc).split("\n", 1)[0][:300]


def build_store(options: S3Options) -> S3Store:
    config: dict[str, Any] = {
        "region": options.region,
        "virtual_hosted_style_request": not options.path_style,
    }
    if options.endpoint_url:
        config["endpoint"] = options.endpoint_url
    for name, value in (
        ("access_key_id", options.access_key),
        ("secret_access_key", options.secret_key),
        ("session_token", options.session_token),
    ):
        if value:
            config[name] = value
    if options.encrypt:
        config["server_side_encryption"] = "aws:kms" if options.kms_key_id else "AES256"
        if options.kms_key_id:
            config["sse_kms_key_id"] = options.kms_key_id
    client: dict[str, Any] = {
        "allow_http": options.allow_http,
        "allow_invalid_certificates": options.skip_verify,
        "connect_timeout": timedelta(seconds=options.connect_timeout_seconds),
    }
    if options.user_agent:
        client["user_agent"] = options.user_agent
    retry: dict[str, Any] = {
        "max_retries": 3,
        "retry_timeout": timedelta(seconds=options.retry_seconds),
        "backoff": {
            "init_backoff": timedelta(milliseconds=50),
            "max_backoff": timedelta(seconds=2),
        },
    }
    return S3Store(
        options.bucket,
        config=config,  # type: ignore[arg-type]
        client_options=client,  # type: ignore[arg-type]
        retry_config=retry,  # type: ignore[arg-type]
    )


def blob_attributes(options: S3Options) -> Attributes:
    """What a published blob is stored with besides its bytes: ``storageclass``, as the
    server-side copies that publish uploads apply it (:mod:`s3_control`)."""
    if options.storage_class in ("", "NONE", "STANDARD"):
        return {}
    return {"Storage-Class": options.storage_class}


class ObjectIO:
    """The data-path calls, on whole keys (the driver adds the root directory)."""

    def __init__(self, store: S3Store, part_size: int) -> None:
        self.store = store
        self.part_size = part_size

    async def head(self, key: str) -> Meta | None:
        try:
            with mapped_errors(key):
                return _meta(await obstore.head_async(self.store, key))
        except PathNotFoundError:
            return None

    async def list_tree(self, prefix: str) -> list[Meta]:
        """Every object below directory ``prefix`` (recursive)."""
        found: list[Meta] = []
        with mapped_errors(prefix):
            async for batch in obstore.list(self.store, prefix, chunk_size=1000):
                found.extend(_meta(raw) for raw in batch)
        return found

    async def list_dir(self, prefix: str) -> tuple[list[str], list[Meta]]:
        """(sub-directories that still hold an object, objects) directly below ``prefix``.

        Some stores (SeaweedFS) keep reporting a directory after its last object went;
        such empty directories are checked for and left out.
        """
        with mapped_errors(prefix):
            result = await obstore.list_with_delimiter_async(self.store, prefix)
        limit = asyncio.Semaphore(_CHECK_CONCURRENCY)

        async def holds_objects(directory: str) -> bool:
            async with limit:
                return await self._holds_objects(directory)

        directories = list(result["common_prefixes"])
        held = await asyncio.gather(*(holds_objects(d) for d in directories))
        kept = [d for d, ok in zip(directories, held, strict=True) if ok]
        return kept, [_meta(raw) for raw in result["objects"]]

    async def _holds_objects(self, prefix: str) -> bool:
        with mapped_errors(prefix):
            stream = obstore.list(self.store, prefix, chunk_size=1)
            async for batch in stream:
                if batch:
                    return True
        return False

    async def read(self, key: str, start: int, end: int) -> AsyncIterator[bytes]:
        """Stream bytes ``[start, end)`` of ``key`` in chunks of about 1 MiB."""
        if end <= start:
            return
        expected = end - start
        with mapped_errors(key):
            result = await obstore.get_async(self.store, key, options={"range": (start, end)})
            async for chunk in result.stream(min_chunk_size=READ_CHUNK):
                expected -= len(chunk)
                yield chunk
        if expected != 0:
            raise StorageError(f"{key}: object shorter than expected")

    async def put(self, key: str, data: bytes, *, attributes: Attributes | None = None) -> None:
        with mapped_errors(key):
            await obstore.put_async(
                self.store, key, data, use_multipart=False, attributes=attributes
            )

    async def put_stream(
        self, key: str, parts: AsyncIterable[Any], *, attributes: Attributes | None = None
    ) -> None:
        """Upload an async stream of buffers as one object (a multipart upload).

        obstore aborts the multipart upload when ``parts`` raises, so nothing is left behind.
        """
        with mapped_errors(key):
            await obstore.put_async(
                self.store,
                key,
                parts,
                use_multipart=True,
                chunk_size=self.part_size,
                max_concurrency=2,
                attributes=attributes,
            )

    async def delete(self, keys: list[str]) -> None:
        """Delete ``keys`` in batches (DeleteObjects); missing keys are not an error."""
        if keys:
            with mapped_errors(keys[0]):
                await obstore.delete_async(self.store, keys)

    async def sign(self, key: str) -> str:
        with mapped_errors(key):
            return await obstore.sign_async(self.store, "GET", key, SIGNED_URL_LIFETIME)
