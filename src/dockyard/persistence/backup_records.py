"""What backup and restore need from the metadata database, whatever the backend.

A :class:`MetadataSnapshot` is one consistent view of the whole database: the list of the
blobs it holds (ready ones) and a way to write it to a file. :class:`BlobHolds` keeps those
blobs from garbage collection while a backup copies them (through the blobs' own
``pinned_until``, the pin GC already honours). :class:`MetadataRestorer` puts a snapshot file
into an empty database and resets what cannot survive a restore (running jobs, uploads).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class SnapshotBlob:
    digest: str
    size: int


class MetadataSnapshot(Protocol):
    """An open snapshot; ``blobs`` is what it records as ready."""

    @property
    def blobs(self) -> Sequence[SnapshotBlob]: ...

    async def write(self, path: str) -> None:
        """Write the snapshot to the local file ``path`` (which does not exist yet)."""
        ...


class SnapshotSource(Protocol):
    """Takes snapshots of the live database: ``async with source.snapshot() as snap``."""

    kind: str  # "sqlite" or "postgresql": which restorer reads the file

    def snapshot(self) -> AbstractAsyncContextManager[MetadataSnapshot]: ...


class BlobHolds(Protocol):
    async def hold(self, until: float, owner: str) -> None:
        """Pin every ready blob until ``until`` (never moving a pin back), for ``owner``."""
        ...

    async def ready_digests(self) -> set[str]:
        """The digests of the blobs that are ready now."""
        ...

    async def release(self, held_until: float, pin_until: float, owner: str, now: float) -> None:
        """``owner``'s hold is over: the pins set by ``hold(held_until)`` pass to the longest
        hold of another backup still running at ``now``, else become pins ending
        ``pin_until``."""
        ...

    async def record_success(self, backup_id: str, finished_at: float) -> None:
        """Remember the newest complete backup (``registry_backup_last_success_timestamp``)."""
        ...

    async def last_success(self) -> float | None:
        """When the newest complete backup finished, or None if none ever did."""
        ...


class MetadataRestorer(Protocol):
    kind: str

    async def is_empty(self) -> bool:
        """True when the target database holds nothing a restore could overwrite."""
        ...

    async def restore(self, path: str) -> None:
        """Load the snapshot file ``path`` into the (empty) target database."""
        ...

    async def reset(self) -> int:
        """After loading: requeue jobs that were running, drop upload sessions (their bytes
        are not in a backup) and blob rows that were not ready. Returns the jobs requeued."""
        ...
