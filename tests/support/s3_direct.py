"""Helpers shared by the S3 writer tests: a driver with small parts, what it left, a fault.

``PART`` is S3's smallest part size, so multipart paths run on a few MiB of data.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from typing import Any

import msgspec

from dockyard.config.model import S3Settings
from dockyard.storage.driver import StorageUnavailableError
from dockyard.storage.drivers.s3 import S3Driver
from dockyard.storage.drivers.s3_options import options_from_settings
from support.seaweed import SeaweedFS, unique_root

MIB = 1 << 20
PART = 5 * MIB


def small_part_driver(weed: SeaweedFS) -> S3Driver:
    """An S3 driver on a fresh root of ``weed`` with 5 MiB parts and copy chunks."""
    settings = msgspec.convert(weed.settings(unique_root("direct")), S3Settings)
    options = options_from_settings(settings, redirect=False)
    return S3Driver(dataclasses.replace(options, part_size=PART, copy_chunk=PART))


async def pending_uploads(driver: S3Driver) -> list[str]:
    """Paths of the multipart uploads still open under the driver's root."""
    uploads = await driver.control.list_multipart_uploads(driver.options.root + "/")
    return sorted(driver.options.path(u.key) for u in uploads)


async def keys(driver: S3Driver) -> list[str]:
    """Paths of every object under the driver's root."""
    listed = await driver.objects.list_tree(driver.options.root + "/")
    return sorted(driver.options.path(m.key) for m in listed)


PutStream = Callable[..., Awaitable[None]]


def failing_after_first_part(put_stream: PutStream) -> PutStream:
    """``put_stream`` whose multipart upload loses its connection right after the first part
    (monkeypatch it over ``driver.objects.put_stream``)."""

    async def broken(key: str, parts: AsyncIterable[Any], **options: Any) -> None:
        async def first_then_fail() -> AsyncIterator[Any]:
            async for part in parts:
                yield part
                raise StorageUnavailableError("connection reset")

        await put_stream(key, first_then_fail(), **options)

    return broken
