"""The backup destination's layout and the manifest that describes one backup.

::

    <destination>/
      docker/registry/v2/blobs/sha256/<2>/<hex>/data   blob bytes, shared by every backup
      backups/<id>/metadata.<sqlite|pgdump>            the metadata snapshot
      backups/<id>/manifest.json                       written last: the backup is complete
      backups/<id>/staging/<hex>                       a blob being copied (private)
      latest                                           the id of the newest complete backup

A backup that dies leaves no ``manifest.json`` (and ``latest`` still names the previous one);
the blobs it had copied are kept and spare the next backup the work.
"""

from __future__ import annotations

import re

import msgspec

from dockyard.core.errors import ErrorCode, RegistryError

FORMAT = "dockyard-backup"
VERSION = 1
LATEST = "latest"
_ID = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[a-z0-9]{6}$")
METADATA_FILES = {"sqlite": "metadata.sqlite", "postgresql": "metadata.pgdump"}


class BackupManifest(msgspec.Struct, frozen=True, kw_only=True):
    format: str = FORMAT
    version: int = VERSION
    id: str
    created_at: float  # when the snapshot was taken (Unix time)
    finished_at: float
    database: str  # "sqlite" or "postgresql"
    metadata_file: str
    metadata_sha256: str
    blob_count: int
    blob_bytes: int
    copied_blobs: int  # how many this backup had to copy (the rest were there already)
    copied_bytes: int
    blobs: list[tuple[str, int]]  # (digest, size) of every blob the snapshot records


def check_id(backup_id: str) -> str:
    if not _ID.fullmatch(backup_id):
        raise RegistryError(ErrorCode.NAME_INVALID, f"not a backup id: {backup_id!r}")
    return backup_id


def backup_dir(backup_id: str) -> str:
    return f"backups/{check_id(backup_id)}"


def manifest_path(backup_id: str) -> str:
    return f"{backup_dir(backup_id)}/manifest.json"


def metadata_path(backup_id: str, database: str) -> str:
    return f"{backup_dir(backup_id)}/{METADATA_FILES[database]}"


def staging_path(backup_id: str, hex_digest: str) -> str:
    return f"{backup_dir(backup_id)}/staging/{hex_digest}"


def encode(manifest: BackupManifest) -> bytes:
    return msgspec.json.format(msgspec.json.encode(manifest), indent=1)


def decode(data: bytes) -> BackupManifest:
    try:
        manifest = msgspec.json.decode(data, type=BackupManifest)
    except msgspec.DecodeError as exc:
        raise RegistryError(ErrorCode.MANIFEST_INVALID, f"backup manifest: {exc}") from exc
    if manifest.format != FORMAT or manifest.version != VERSION:
        raise RegistryError(ErrorCode.MANIFEST_INVALID, "not a dockyard backup (version 1)")
    if manifest.database not in METADATA_FILES:
        raise RegistryError(ErrorCode.MANIFEST_INVALID, "backup manifest: unknown database")
    check_id(manifest.id)
    return manifest
