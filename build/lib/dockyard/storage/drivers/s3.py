"""S3 storage (AWS S3, SeaweedFS, MinIO, Ceph RGW): registry:2's ``storage.s3`` driver.

Bytes move through obstore; CopyObject and multipart composition through botocore
(:mod:`s3_control`). Files written by appends are runs of segment objects
(:mod:`s3_layout`), published by :mod:`s3_compose`; a file whose final path is known before
its bytes arrive is streamed straight there (:mod:`s3_direct`). Blob GETs may be answered with a
presigned URL (``redirect_url``) unless ``storage.redirect.disable`` is set.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from dockyard.config.model import S3Settings
from dockyard.storage.driver import FileInfo, PathNotFoundError, StorageError, check_path
from dockyard.storage.drivers.s3_compose import Composer
from dockyard.storage.drivers.s3_control import Control
from dockyard.storage.drivers.s3_direct import S3DirectWriter
from dockyard.storage.drivers.s3_layout import (
    SEGMENTS_SUFFIX,
    Piece,
    Segment,
    arrange,
    segment_key,
    segments_dir,
)
from dockyard.storage.drivers.s3_objects import Meta, ObjectIO, blob_attributes, build_store
from dockyard.storage.drivers.s3_options import S3Options, options_from_settings
from dockyard.storage.drivers.s3_writer import S3Writer


@dataclass(frozen=True, slots=True)
class _Stored:
    """What is stored for one path: a plain object, or a run of segments."""

    plain: Meta | None
    run: tuple[Segment, ...] = ()
    garbage: tuple[str, ...] = ()
    modified: float = 0.0

    @property
    def size(self) -> int:
        return self.plain.size if self.plain is not None else sum(s.size for s in self.run)

    def pieces(self) -> list[Piece]:
        if self.plain is not None:
            return [Piece(self.plain.key, 0, self.plain.size)]
        return [Piece(s.key, 0, s.size) for s in self.run]

    def all_keys(self) -> list[str]:
        plain = [self.plain.key] if self.plain is not None else []
        return plain + [s.key for s in self.run] + list(self.garbage)


class S3Driver:
    """Stores every path as an object (or segment objects) below ``rootdirectory``."""

    name = "s3"

    def __init__(self, options: S3Options) -> None:
        self.options = options
        self.objects = ObjectIO(build_store(options), options.part_size)
        self.control = Control(options)
        self.composer = Composer(self.objects, self.control, options)

    @classmethod
    def from_settings(cls, settings: S3Settings, *, redirect: bool = True) -> S3Driver:
        return cls(options_from_settings(settings, redirect=redirect))

    def _key(self, path: str) -> str:
        check_path(path)
        return self.options.key(path)

    async def _find(self, key: str) -> _Stored | None:
        """The plain object at ``key`` (it wins), else its segments, else None."""
        plain = await self.objects.head(key)
        if plain is not None:
            return _Stored(plain, modified=plain.modified)
        listed = await self.objects.list_tree(segments_dir(key))
        if not listed:
            return None
        segments = arrange((m.key, m.size) for m in listed)  # a run, or garbage only
        modified = max(m.modified for m in listed)
        return _Stored(None, segments.run, segments.garbage, modified)

    async def _require(self, path: str) -> _Stored:
        found = await self._find(self._key(path))
        if found is None or (found.plain is None and not found.run):
            raise PathNotFoundError(path)
        return found

    # writing ------------------------------------------------------------------------------

    async def writer(self, path: str, *, append: bool) -> S3Writer:
        """A writer adding one segment after what is stored (everything removed first if not
        ``append``). Garbage from an interrupted or overlapping writer is cleared first."""
        key = self._key(path)
        if not append:
            await self._remove(key)
            return S3Writer(self.objects, key, 0, create=True)
        found = await self._find(key)
        if found is None:
            return S3Writer(self.objects, key, 0, create=True)
        await self.objects.delete(list(found.garbage))
        if found.plain is not None:
            await self._to_segments(found.plain)
        exists = found.plain is not None or bool(found.run)
        return S3Writer(self.objects, key, found.size, create=not exists)

    async def direct_writer(self, path: str) -> S3DirectWriter:
        """A multipart upload at ``path``'s own key, completed on commit: a blob pushed with
        its digest is written once, instead of as segments and then a server-side copy."""
        return S3DirectWriter(self.objects, self._key(path), blob_attributes(self.options))

    async def _to_segments(self, plain: Meta) -> None:
        """Turn a plain object into the first segment, so that appends can follow it."""
        stale = await self.objects.list_tree(segments_dir(plain.key))
        await self.objects.delete([m.key for m in stale])
        first = segment_key(plain.key, 0)
        await self.composer.compose([Piece(plain.key, 0, plain.size)], first)
        await self.objects.delete([plain.key])

    async def put_content(self, path: str, data: bytes) -> None:
        key = self._key(path)
        await self.objects.put(key, data)
        stale = await self.objects.list_tree(segments_dir(key))
        await self.objects.delete([m.key for m in stale])

    async def move(self, source: str, destination: str) -> None:
        found = await self._require(source)
        target = self._key(destination)
        await self.composer.compose(found.pieces(), target)
        await self.objects.delete([k for k in found.all_keys() if k != target])

    async def truncate(self, path: str, size: int) -> None:
        found = await self._require(path)
        if size > found.size or size < 0:
            raise StorageError(f"{path}: cannot truncate {found.size} bytes to {size}")
        if size == found.size:
            return
        if found.plain is not None:
            await self._rewrite_prefix(found.plain.key, size)
            return
        keep = [s for s in found.run if s.start < size] or [found.run[0]]
        last = keep[-1]
        if last.end != size:
            await self._rewrite_prefix(last.key, size - last.start)
        kept = {s.key for s in keep}
        await self.objects.delete([k for k in found.all_keys() if k not in kept])

    async def _rewrite_prefix(self, key: str, length: int) -> None:
        """Replace the object at ``key`` by its first ``length`` bytes."""
        if length < self.options.part_size:
            data = b"".join([chunk async for chunk in self.objects.read(key, 0, length)])
            await self.objects.put(key, data)
            return
        temporary = key + ".truncating"
        await self.composer.compose([Piece(key, 0, length)], temporary, whole=False)
        await self.composer.compose([Piece(temporary, 0, length)], key)
        await self.objects.delete([temporary])

    # reading ------------------------------------------------------------------------------

    async def stat(self, path: str) -> FileInfo:
        found = await self._require(path)
        return FileInfo(path, found.size, found.modified)

    async def read(
        self, path: str, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        key = self._key(path)
        if length:  # a blob's bytes, most likely: try the plain object without a HEAD first
            try:
                async for chunk in self.objects.read(key, offset, offset + length):
                    yield chunk
                return
            except PathNotFoundError:
                pass
        found = await self._require(path)
        end = found.size if length is None else offset + length
        if end > found.size:
            raise StorageError(f"{path}: file shorter than expected")
        for piece in found.pieces():
            start, stop = max(offset, 0), min(end, piece.size)
            if start < stop:
                async for chunk in self.objects.read(piece.key, start, stop):
                    yield chunk
            offset -= piece.size
            end -= piece.size

    async def get_content(self, path: str) -> bytes:
        return b"".join([chunk async for chunk in self.read(path)])

    async def list(self, path: str) -> list[str]:
        key = self._key(path)
        directories, objects = await self.objects.list_dir(key)
        names = {self._name(d) for d in directories} | {self._name(m.key) for m in objects}
        if not names:
            raise PathNotFoundError(path)
        return sorted(names)

    @staticmethod
    def _name(key: str) -> str:
        name = key.rsplit("/", 1)[-1]
        return name.removesuffix(SEGMENTS_SUFFIX) or name

    # removing -----------------------------------------------------------------------------

    async def delete(self, path: str) -> None:
        await self._remove(self._key(path))

    async def _remove(self, key: str) -> None:
        """Delete the object at ``key``, its segments and everything below it."""
        below = await self.objects.list_tree(key)
        segments = await self.objects.list_tree(segments_dir(key))
        await self.objects.delete([key, *(m.key for m in below), *(m.key for m in segments)])

    # serving ------------------------------------------------------------------------------

    def local_path(self, path: str) -> str | None:
        check_path(path)
        return None

    async def redirect_url(self, path: str) -> str | None:
        key = self._key(path)
        if not self.options.redirect:
            return None
        return await self.objects.sign(key)

    # maintenance --------------------------------------------------------------------------

    async def purge_stale_parts(self, older_than: float, *, dry_run: bool) -> tuple[str, ...]:
        """Abort multipart uploads below the root begun before ``older_than``: a node that
        died while streaming a segment or composing a blob leaves one, whose parts S3 keeps
        (and bills) until it is aborted. Returns the paths they were writing."""
        prefix = f"{self.options.root}/" if self.options.root else ""
        pending = await self.control.list_multipart_uploads(prefix)
        stale = [u for u in pending if u.initiated < older_than]
        if not dry_run:
            for upload in stale:
                with contextlib.suppress(PathNotFoundError):  # completed or aborted meanwhile
                    await self.control.abort_multipart(upload.key, upload.upload_id)
        return tuple(self.options.path(u.key) for u in stale)
