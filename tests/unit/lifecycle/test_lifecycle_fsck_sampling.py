"""``dockyard fsck --rehash``: all, a share, or about N blobs."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from dockyard.cache.base import NullCache
from dockyard.cli.fsck_cmd import rehash_option
from dockyard.core.digest import parse_digest
from dockyard.persistence.sql import Database, SqlMetadata
from dockyard.persistence.sql.integrity import SqlIntegrity
from dockyard.persistence.sql.lifecycle import SqlLifecycleStore
from dockyard.services.lifecycle.fsck import FsckOptions, IntegrityChecker
from dockyard.services.registry.descriptors import BlobDescriptorCache
from dockyard.storage.drivers.memory import MemoryDriver
from dockyard.storage.layout import blob_path

Run = Callable[[Awaitable[Any]], Any]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("all", (1.0, None)), ("10%", (0.1, None)), ("500", (0.0, 500)), ("0", (0.0, None))],
)
def test_rehash_option(text: str, expected: tuple[float, int | None]) -> None:
    assert rehash_option(text) == expected


@pytest.mark.parametrize("text", ["some", "150%", "-3"])
def test_bad_rehash_option(text: str) -> None:
    with pytest.raises(ValueError):
        rehash_option(text)


def test_about_n_blobs_are_rehashed(run: Run, database: Database, metadata: SqlMetadata) -> None:
    storage = MemoryDriver()
    store = SqlLifecycleStore(database)
    draws = itertools.cycle([0.3, 0.7])  # with a share of 0.5: every other blob
    checker = IntegrityChecker(
        storage, SqlIntegrity(database), metadata, store, BlobDescriptorCache(NullCache()),
        chance=lambda: next(draws),
    )  # fmt: skip

    async def main() -> None:
        for number in range(4):
            data = f"blob {number}".encode()
            digest = "sha256:" + hashlib.sha256(data).hexdigest()
            stored = b"?" * len(data) if number == 1 else data  # 1 is corrupt, never drawn
            await storage.put_content(blob_path(parse_digest(digest)), stored)
            await metadata.commit_blob("repo", digest, len(data))
        sampled = await checker.run(FsckOptions(rehash_count=2))
        assert (sampled.blobs, sampled.rehashed, sampled.problems) == (4, 2, [])
        full = await checker.run(FsckOptions(rehash=1.0))
        assert full.rehashed == 4 and len(full.problems) == 1

    run(main())
