"""Walk one layer tar as a stream (plain or gzip; never extracted) and list what it installs.

Bounded: entry count, path length and depth, the bytes of each file read whole (package
databases) and of all entries together; a layer past a bound is refused (``LayerRefusedError``),
never half-indexed. zstd layers are refused as not supported yet.
"""

from __future__ import annotations

import io
import posixpath
import tarfile
from collections.abc import Callable
from typing import IO

from dockyard.core.supplychain import gobuild, langs, osdb, rpmdb
from dockyard.core.supplychain.model import IndexLimits, LayerInventory, LayerRefusedError, Package

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
CHUNK = 1024 * 1024

Parser = Callable[[bytes, str], list[Package]]


def _text(parse: Callable[[str, str], list[Package]]) -> Parser:
    return lambda raw, path: parse(raw.decode("utf-8", "replace"), path)


def _dpkg_path(path: str) -> bool:
    if path == "var/lib/dpkg/status":
        return True
    return path.startswith("var/lib/dpkg/status.d/") and not path.endswith(".md5sums")


_PARSERS: tuple[tuple[Callable[[str], bool], Parser], ...] = (
    (_dpkg_path, _text(osdb.dpkg_packages)),
    (lambda path: path == "lib/apk/db/installed", _text(osdb.apk_packages)),
    (lambda path: path in (rpmdb.RPMDB_SQLITE, rpmdb.RPMDB_SQLITE_USR), rpmdb.rpm_packages),
    (lambda path: bool(langs.PYTHON_METADATA.search(path)), _text(langs.python_package)),
    (lambda path: bool(langs.NPM_LOCK.search(path)), langs.npm_lock),
    (lambda path: bool(langs.NPM_MANIFEST.search(path)), langs.npm_manifest),
)


def parser_for(path: str) -> Parser | None:
    """The parser of a package database or manifest at ``path``, None for other files."""
    return next((parse for matches, parse in _PARSERS if matches(path)), None)


class _Prefixed(io.RawIOBase):
    """A reader that first returns ``head`` (bytes already read to sniff the format)."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self.head, self.rest = head, rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self.head:
            size = min(len(buffer), len(self.head))
            buffer[:size] = self.head[:size]
            self.head = self.head[size:]
            return size
        data = self.rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def clean_path(name: str, limits: IndexLimits) -> str:
    if len(name) > limits.max_path_length:
        raise LayerRefusedError(
            f"a path of {len(name)} characters (limit {limits.max_path_length})"
        )
    path = posixpath.normpath("/" + name).lstrip("/")
    if path.count("/") >= limits.max_path_depth:
        raise LayerRefusedError(f"a path deeper than {limits.max_path_depth} directories")
    return path


class _Walk:
    def __init__(self, digest: str, limits: IndexLimits) -> None:
        self.digest, self.limits = digest, limits
        self.packages: list[Package] = []
        self.sources: list[str] = []
        self.whiteouts: list[str] = []
        self.opaque: list[str] = []
        self.entries = self.total = 0

    def member(self, archive: tarfile.TarFile, entry: tarfile.TarInfo) -> None:
        self.entries += 1
        self.total += max(entry.size, 0)
        if self.entries > self.limits.max_entries:
            raise LayerRefusedError(f"more than {self.limits.max_entries} entries")
        if self.total > self.limits.max_total_bytes:
            raise LayerRefusedError(f"more than {self.limits.max_total_bytes} bytes uncompressed")
        path = clean_path(entry.name, self.limits)
        directory, base = posixpath.split(path)
        if base == OPAQUE:
            self.opaque.append(directory)
        elif base.startswith(WHITEOUT):
            self.whiteouts.append(posixpath.join(directory, base[len(WHITEOUT) :]))
        elif entry.isreg():
            self._regular(archive, entry, path)

    def _regular(self, archive: tarfile.TarFile, entry: tarfile.TarInfo, path: str) -> None:
        parse = parser_for(path)
        if parse is not None:
            self._database(archive, entry, path, parse)
        elif entry.mode & 0o111 and 64 <= entry.size <= self.limits.max_binary_bytes:
            self._binary(archive, entry, path)

    def _database(
        self, archive: tarfile.TarFile, entry: tarfile.TarInfo, path: str, parse: Parser
    ) -> None:
        if entry.size > self.limits.max_metadata_bytes:
            raise LayerRefusedError(
                f"{path}: {entry.size} bytes (package files up to {self.limits.max_metadata_bytes})"
            )
        reader = archive.extractfile(entry)
        raw = reader.read() if reader is not None else b""
        self.sources.append(path)
        self._add(parse(raw, path))

    def _binary(self, archive: tarfile.TarFile, entry: tarfile.TarInfo, path: str) -> None:
        reader = archive.extractfile(entry)
        if reader is None or not gobuild.is_executable(reader.read(4)):
            return
        found = _scan_go(reader)
        if found is not None:
            self._add(gobuild.go_packages(found[0], found[1], path))

    def _add(self, packages: list[Package]) -> None:
        self.packages.extend(packages)
        if len(self.packages) > self.limits.max_packages:
            raise LayerRefusedError(f"more than {self.limits.max_packages} packages")


def _scan_go(reader: IO[bytes]) -> tuple[str, str] | None:
    """The build info of a Go executable, read in 1 MiB chunks (memory stays bounded)."""
    tail, captured = b"", b""
    keep = gobuild.HEADER + 2 * (gobuild.MAX_STRING + 10)
    while chunk := reader.read(CHUNK):
        if captured:
            captured += chunk[: keep - len(captured)]
        else:
            data = tail + chunk
            at = data.find(gobuild.MAGIC)
            if at >= 0:
                captured = data[at : at + keep]
            tail = data[-(len(gobuild.MAGIC) - 1) :]
        if len(captured) >= keep:
            break
    return gobuild.read_blob(captured) if captured else None


def index_layer(stream: IO[bytes], digest: str, limits: IndexLimits) -> LayerInventory:
    """The inventory of the layer read from ``stream`` (tar, or gzip-compressed tar)."""
    head = stream.read(4)
    if head.startswith(ZSTD_MAGIC):
        raise LayerRefusedError("zstd-compressed layers are not indexed yet")
    walk = _Walk(digest, limits)
    try:
        with tarfile.open(fileobj=_Prefixed(head, stream), mode="r|*") as archive:
            for entry in archive:
                walk.member(archive, entry)
    except (tarfile.TarError, EOFError, OSError, ValueError, RecursionError) as exc:
        raise LayerRefusedError(f"not a readable tar layer ({type(exc).__name__}: {exc})") from None
    return LayerInventory(
        digest=digest,
        packages=tuple(walk.packages),
        sources=tuple(walk.sources),
        whiteouts=tuple(walk.whiteouts),
        opaque=tuple(walk.opaque),
    )
