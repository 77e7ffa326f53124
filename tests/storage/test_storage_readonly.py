"""The read-only wrapper reads through and refuses every change (``dockyard import``'s source)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from dockyard.storage.driver import PathNotFoundError
from dockyard.storage.drivers.filesystem import FilesystemDriver
from dockyard.storage.readonly import ReadOnlyDriver, ReadOnlyStorageError


def test_reads_pass_through_and_changes_are_refused(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "data").write_bytes(b"bytes")
    source = ReadOnlyDriver(FilesystemDriver(str(tmp_path)))

    async def main() -> None:
        assert await source.get_content("a/data") == b"bytes"
        assert (await source.stat("a/data")).size == 5
        assert await source.list("a") == ["data"]
        assert b"".join([chunk async for chunk in source.read("a/data", 1, 3)]) == b"yte"
        with pytest.raises(PathNotFoundError):
            await source.stat("a/missing")
        refused = [
            source.put_content("a/data", b"x"),
            source.writer("a/new", append=False),
            source.move("a/data", "b/data"),
            source.delete("a"),
            source.truncate("a/data", 0),
        ]
        for attempt in refused:
            with pytest.raises(ReadOnlyStorageError):
                await attempt
        assert await source.redirect_url("a/data") is None
        assert await source.purge_stale_parts(1e12, dry_run=False) == ()

    asyncio.run(main())
    assert (tmp_path / "a" / "data").read_bytes() == b"bytes"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a", "data"]
