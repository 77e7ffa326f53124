"""Copy one blob between two stores, verified: staged privately, hashed on the way, published
under its final path only when size and digest match. A target that already holds the bytes
(with the right size) is left alone, which is what makes a second backup incremental."""

from __future__ import annotations

from typing import Protocol

from dockyard.core.digest import Digest, new_hasher
from dockyard.storage.driver import PathNotFoundError, StorageDriver


class BlobMismatchError(Exception):
    """The source's bytes are not what the digest and size say; nothing was published."""


async def has_blob(store: StorageDriver, path: str, size: int) -> bool:
    try:
        return (await store.stat(path)).size == size
    except PathNotFoundError:
        return False


async def copy_verified(
    source: StorageDriver,
    source_path: str,
    target: StorageDriver,
    target_path: str,
    *,
    staging_path: str,
    digest: Digest,
    size: int,
) -> int:
    """Copy unless present; return the bytes copied (0 when the target had them)."""
    if await has_blob(target, target_path, size):
        return 0
    direct = await target.direct_writer(target_path)
    if direct is not None:
        try:
            await _stream(source, source_path, direct, digest, size)
            await direct.commit()
        finally:
            await direct.abort()  # a no-op once committed
        return size
    writer = await target.writer(staging_path, append=False)
    try:
        try:
            await _stream(source, source_path, writer, digest, size)
            await writer.flush()
        finally:
            await writer.close()
        await target.move(staging_path, target_path)
    finally:
        await target.delete(staging_path)
    return size


class _Sink(Protocol):
    """What ``_stream`` writes to (FileWriter and BlobWriter both are)."""

    @property
    def size(self) -> int: ...

    async def write(self, data: bytes) -> None: ...


async def _stream(source: StorageDriver, path: str, sink: _Sink, digest: Digest, size: int) -> None:
    hasher = new_hasher(digest.algorithm)
    async for chunk in source.read(path):
        hasher.update(chunk)
        await sink.write(chunk)
        if sink.size > size:
            break
    if sink.size != size or hasher.hexdigest() != digest.hex:
        raise BlobMismatchError(
            f"blob {digest}: the stored bytes do not match ({sink.size} bytes, "
            f"{digest.algorithm}:{hasher.hexdigest()})"
        )
