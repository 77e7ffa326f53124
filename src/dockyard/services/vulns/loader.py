"""Reading OSV records from a file, a directory (walked, ``*.json``) or a zip archive (as
osv.dev publishes them per ecosystem), offline. A file holds one record or a JSON array of
records. One invalid record refuses the whole import (nothing is stored): the error names
the file. Bounds keep a hostile archive from exhausting memory.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import msgspec

from dockyard.core.vulns.osv import Advisory, InvalidRecordError, parse


@dataclass(frozen=True, slots=True)
class LoadLimits:
    max_file_bytes: int = 64 * 1024 * 1024  # one JSON file (a record, or an array of them)
    max_files: int = 2_000_000
    max_total_bytes: int = 8 * 1024 * 1024 * 1024  # everything read, uncompressed


class ImportRefusedError(Exception):
    """The data cannot be imported (the message says which file and why)."""


def _records(name: str, raw: bytes) -> Iterator[Advisory]:
    stripped = raw.lstrip()
    try:
        if stripped.startswith(b"["):
            items = msgspec.json.decode(raw, type=list[msgspec.Raw])
            for item in items:
                yield parse(bytes(item))
        else:
            yield parse(raw)
    except (InvalidRecordError, msgspec.DecodeError) as exc:
        raise ImportRefusedError(f"{name}: {exc}") from None


class _Budget:
    def __init__(self, limits: LoadLimits) -> None:
        self.limits, self.files, self.bytes = limits, 0, 0

    def take(self, name: str, size: int) -> None:
        self.files += 1
        self.bytes += size
        if size > self.limits.max_file_bytes:
            raise ImportRefusedError(f"{name}: larger than {self.limits.max_file_bytes} bytes")
        if self.files > self.limits.max_files:
            raise ImportRefusedError(f"more than {self.limits.max_files} files")
        if self.bytes > self.limits.max_total_bytes:
            raise ImportRefusedError(f"more than {self.limits.max_total_bytes} bytes in all")


def _from_zip(path: Path, budget: _Budget) -> Iterator[Advisory]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ImportRefusedError(f"{path}: not a readable zip archive ({exc})") from None
    with archive:
        for info in archive.infolist():
            if info.is_dir() or not info.filename.endswith(".json"):
                continue
            budget.take(info.filename, info.file_size)
            with archive.open(info) as member:  # read at most the declared size (+1)
                raw = member.read(info.file_size + 1)
            if len(raw) != info.file_size:
                raise ImportRefusedError(f"{info.filename}: size differs from the archive's")
            yield from _records(info.filename, raw)


def _from_file(path: Path, budget: _Budget) -> Iterator[Advisory]:
    budget.take(str(path), path.stat().st_size)
    yield from _records(str(path), path.read_bytes())


def _walk(root: Path) -> Iterator[Path]:
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            if name.endswith((".json", ".zip")):
                yield Path(folder) / name


def load(path: Path, limits: LoadLimits | None = None) -> list[Advisory]:
    """Every record under ``path``; the last one wins when an id repeats."""
    budget = _Budget(limits or LoadLimits())
    if not path.exists():
        raise ImportRefusedError(f"{path}: no such file or directory")
    sources = list(_walk(path)) if path.is_dir() else [path]
    found: dict[str, Advisory] = {}
    try:
        for source in sources:
            reader = _from_zip if zipfile.is_zipfile(source) else _from_file
            for advisory in reader(source, budget):
                found[advisory.id] = advisory
    except OSError as exc:
        raise ImportRefusedError(f"cannot read: {exc}") from None
    return list(found.values())
