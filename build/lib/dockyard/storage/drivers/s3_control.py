"""S3 control calls obstore does not offer: CopyObject and multipart uploads built from copies.

obstore has no UploadPartCopy and keeps multipart upload ids to itself, so these few calls go
through botocore (the AWS SDK's core, synchronous and thread-safe) on a small private thread
pool. No bytes of a blob pass through here except merged parts of at most a few MiB.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from dockyard.storage.driver import PathNotFoundError, StorageError, StorageUnavailableError
from dockyard.storage.drivers.s3_layout import Piece
from dockyard.storage.drivers.s3_options import S3Options

_MISSING = frozenset({"NoSuchKey", "NoSuchUpload", "NotFound", "404"})


@dataclass(frozen=True, slots=True)
class PendingUpload:
    """An incomplete multipart upload: its key, id and when it began (Unix time)."""

    key: str
    upload_id: str
    initiated: float


@contextmanager
def mapped_errors(what: str) -> Iterator[None]:
    """botocore failures as storage errors (see :mod:`s3_objects` for the rules)."""
    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
        code = str(error.get("Code", ""))
        if code in _MISSING or status == 404:
            raise PathNotFoundError(what) from None
        message = f"S3 {code or status} ({what}): {error.get('Message', '')}"
        if status >= 500 or code in ("SlowDown", "ServiceUnavailable", "InternalError"):
            raise StorageUnavailableError(message) from exc
        raise StorageError(message) from exc
    except BotoCoreError as exc:  # connection refused, timeouts, closed connections
        raise StorageUnavailableError(f"S3 unavailable ({what}): {exc}") from exc


def build_client(options: S3Options, workers: int) -> Any:
    config = Config(
        region_name=options.region,
        signature_version="s3v4",
        s3={"addressing_style": "path" if options.path_style else "virtual"},
        retries={"max_attempts": 3, "mode": "standard"},
        connect_timeout=options.connect_timeout_seconds,
        read_timeout=300,
        max_pool_connections=workers,
        # Plain Content-MD5-free requests: S3-compatible stores do not all take CRC trailers.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        user_agent_extra=options.user_agent or None,
    )
    session = botocore.session.get_session()
    return session.create_client(
        "s3",
        endpoint_url=options.endpoint_url or None,
        use_ssl=options.secure,
        verify=not options.skip_verify,
        aws_access_key_id=options.access_key or None,
        aws_secret_access_key=options.secret_key or None,
        aws_session_token=options.session_token or None,
        config=config,
    )


class Control:
    """Copy and multipart calls, each run on the pool so the event loop never blocks."""

    def __init__(self, options: S3Options) -> None:
        self.options = options
        self.workers = max(4, options.copy_concurrency)
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="dockyard-s3")
        self._client: Any = None
        self._lock = threading.Lock()

    def _invoke(self, operation: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Run one client operation (on a pool thread); the client is built on first use."""
        with self._lock:
            if self._client is None:  # loading the S3 model takes a moment: not on the loop
                self._client = build_client(self.options, self.workers)
        method: Callable[..., dict[str, Any]] = getattr(self._client, operation)
        return method(**kwargs)

    async def _call(self, what: str, operation: str, /, **kwargs: Any) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        with mapped_errors(what):
            call = functools.partial(self._invoke, operation, kwargs)
            return await loop.run_in_executor(self._pool, call)

    def _write_args(self) -> dict[str, Any]:
        args: dict[str, Any] = {}
        if self.options.encrypt:
            args["ServerSideEncryption"] = "aws:kms" if self.options.kms_key_id else "AES256"
            if self.options.kms_key_id:
                args["SSEKMSKeyId"] = self.options.kms_key_id
        if self.options.storage_class not in ("", "NONE", "STANDARD"):
            args["StorageClass"] = self.options.storage_class
        return args

    def _source(self, key: str) -> dict[str, str]:
        return {"Bucket": self.options.bucket, "Key": key}

    async def copy_object(self, source: str, destination: str) -> None:
        """CopyObject: one call, objects up to 5 GiB."""
        await self._call(
            source,
            "copy_object",
            Bucket=self.options.bucket,
            Key=destination,
            CopySource=self._source(source),
            **self._write_args(),
        )

    async def create_multipart(self, key: str) -> str:
        response = await self._call(
            key,
            "create_multipart_upload",
            Bucket=self.options.bucket,
            Key=key,
            **self._write_args(),
        )
        return str(response["UploadId"])

    async def copy_part(self, key: str, upload_id: str, number: int, source: Piece) -> str:
        """UploadPartCopy of the bytes of ``source``; returns the part's ETag."""
        response = await self._call(
            source.key,
            "upload_part_copy",
            Bucket=self.options.bucket,
            Key=key,
            UploadId=upload_id,
            PartNumber=number,
            CopySource=self._source(source.key),
            CopySourceRange=f"bytes={source.start}-{source.end - 1}",
        )
        return str(response["CopyPartResult"]["ETag"])

    async def upload_part(self, key: str, upload_id: str, number: int, body: bytes) -> str:
        response = await self._call(
            key,
            "upload_part",
            Bucket=self.options.bucket,
            Key=key,
            UploadId=upload_id,
            PartNumber=number,
            Body=body,
        )
        return str(response["ETag"])

    async def complete_multipart(self, key: str, upload_id: str, etags: list[str]) -> None:
        parts = [{"PartNumber": n, "ETag": etag} for n, etag in enumerate(etags, start=1)]
        await self._call(
            key,
            "complete_multipart_upload",
            Bucket=self.options.bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": parts},
        )

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        await self._call(
            key,
            "abort_multipart_upload",
            Bucket=self.options.bucket,
            Key=key,
            UploadId=upload_id,
        )

    async def list_multipart_uploads(self, prefix: str) -> list[PendingUpload]:
        """Every incomplete multipart upload whose key starts with ``prefix``, page by page."""
        found: list[PendingUpload] = []
        markers: dict[str, str] = {}
        while True:
            response = await self._call(
                prefix or "/", "list_multipart_uploads",
                Bucket=self.options.bucket, Prefix=prefix, **markers,
            )  # fmt: skip
            found += [
                PendingUpload(str(u["Key"]), str(u["UploadId"]), u["Initiated"].timestamp())
                for u in response.get("Uploads", [])
            ]
            next_key = response.get("NextKeyMarker")
            if not response.get("IsTruncated") or not next_key:
                return found
            markers = {"KeyMarker": next_key}
            if response.get("NextUploadIdMarker"):
                markers["UploadIdMarker"] = response["NextUploadIdMarker"]
