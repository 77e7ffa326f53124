"""The pure parts of backup and layouts: the backup manifest, ids and paths, the layout view's
path mapping, and a verified copy between two in-memory stores."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from dockyard.core.digest import parse_digest
from dockyard.core.errors import RegistryError
from dockyard.services.backup.backup import new_backup_id
from dockyard.services.backup.copying import BlobMismatchError, copy_verified
from dockyard.services.backup.manifest import (
    BackupManifest,
    backup_dir,
    decode,
    encode,
    metadata_path,
)
from dockyard.storage.drivers.memory import MemoryDriver
from dockyard.storage.layout import blob_path
from dockyard.storage.oci_layout import layout_path

HEX = "ab" * 32


def _manifest(**changes: object) -> BackupManifest:
    fields: dict[str, object] = {
        "id": "20261207T211500Z-k3v9qa", "created_at": 1.0, "finished_at": 2.0,
        "database": "sqlite", "metadata_file": "backups/x/metadata.sqlite",
        "metadata_sha256": HEX, "blob_count": 1, "blob_bytes": 5, "copied_blobs": 1,
        "copied_bytes": 5, "blobs": [(f"sha256:{HEX}", 5)],
    }  # fmt: skip
    fields.update(changes)
    return BackupManifest(**fields)  # type: ignore[arg-type]


def test_manifest_round_trips_and_refuses_what_is_not_one() -> None:
    manifest = _manifest()
    assert decode(encode(manifest)) == manifest
    wrong = [_manifest(version=2), _manifest(format="x"), _manifest(database="oracle"),
             _manifest(id="../../etc")]  # fmt: skip
    for bad in [b"{}", b"not json", *map(encode, wrong)]:
        with pytest.raises(RegistryError):
            decode(bad)


def test_backup_ids_are_checked_before_they_make_a_path() -> None:
    backup_id = new_backup_id(1_800_000_000.0)
    assert backup_id.startswith("20270115T080000Z-")
    assert metadata_path(backup_id, "postgresql") == f"backups/{backup_id}/metadata.pgdump"
    for bad in ("", "..", "20261207T211500Z-k3v9qa/../x", "latest"):
        with pytest.raises(RegistryError):
            backup_dir(bad)


def test_layout_view_maps_blob_paths_only() -> None:
    digest = parse_digest(f"sha256:{HEX}")
    assert layout_path(blob_path(digest)) == f"blobs/sha256/{HEX}"
    assert layout_path("index.json") == "index.json"
    assert layout_path("docker/registry/v2/blobs/sha256/ab/data") == (
        "docker/registry/v2/blobs/sha256/ab/data"
    )


def test_copy_verified_publishes_only_matching_bytes_and_skips_what_is_there() -> None:
    async def main() -> None:
        source, target = MemoryDriver(), MemoryDriver()
        good = b"hello"
        digest = parse_digest("sha256:" + hashlib.sha256(good).hexdigest())
        await source.put_content("src/good", good)
        await source.put_content("src/bad", b"hellO")

        async def copy(path: str, size: int) -> int:
            return await copy_verified(
                source, path, target, "dst", staging_path="stage/x", digest=digest, size=size
            )

        with pytest.raises(BlobMismatchError):
            await copy("src/bad", 5)
        with pytest.raises(BlobMismatchError):
            await copy("src/good", 4)  # the recorded size is wrong: refused too
        assert not await _exists(target, "dst") and not await _exists(target, "stage/x")
        assert await copy("src/good", 5) == 5
        assert await target.get_content("dst") == good
        assert await copy("src/good", 5) == 0  # already there: not copied again

    asyncio.run(main())


async def _exists(store: MemoryDriver, path: str) -> bool:
    try:
        await store.stat(path)
    except Exception:
        return False
    return True
