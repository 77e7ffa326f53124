"""Online garbage collection: reclaim blobs no manifest references, while serving.

Each blob is handled on its own: its cached descriptors are invalidated, a transaction
re-checks that it is still unreferenced and unpinned and takes it to ``deleting`` (removing
its repository links), the cache is invalidated again, the bytes are deleted, and only then
is the row dropped. A crash at any point leaves either a live blob or a ``deleting`` row that
the next run finishes. ``--delete-untagged`` first removes manifests that have no tag, are not
part of an index and do not refer to a live subject; each is logged and recorded in the
deletion log (rule ``gc --delete-untagged``). A dry run deletes nothing and reports what the
real run would delete, cascades included (``services/lifecycle/gc_preview.py``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from dockyard.core.digest import parse_digest
from dockyard.core.errors import RegistryError
from dockyard.core.events import DetailValue, EventKind, EventOrigin, EventTarget, new_event
from dockyard.persistence.lifecycle_records import DeletionLog, DeletionRecord, EventRecorder
from dockyard.persistence.stores import GarbageStore
from dockyard.services.lifecycle.gc_preview import freed_blobs, untagged_rounds
from dockyard.services.progress import NO_PROGRESS, Progress
from dockyard.services.registry.descriptors import BlobDescriptorCache
from dockyard.services.telemetry import NO_TELEMETRY, Telemetry
from dockyard.storage.driver import StorageDriver
from dockyard.storage.layout import blob_dir

log = logging.getLogger("dockyard.gc")
BATCH = 200
UNTAGGED_RULE = "gc --delete-untagged"


@dataclass
class GcReport:
    dry_run: bool = False
    manifests_deleted: int = 0
    blobs_deleted: int = 0
    bytes_freed: int = 0
    blobs_kept_busy: int = 0
    stopped_early: str = ""
    # a dry run lists what it would delete: (repository, digest), then (digest, size)
    manifests: list[tuple[str, str]] = field(default_factory=list)
    blobs: list[tuple[str, int]] = field(default_factory=list)

    def summary(self) -> str:
        verb = "would delete" if self.dry_run else "deleted"
        text = (
            f"{verb} {self.manifests_deleted} untagged manifests and {self.blobs_deleted} blobs "
            f"({self.bytes_freed} bytes)"
        )
        return text + (f"; stopped early: {self.stopped_early}" if self.stopped_early else "")

    def detail(self) -> dict[str, DetailValue]:
        """The summary a ``gc.completed`` event carries."""
        detail: dict[str, DetailValue] = {
            "manifests_deleted": self.manifests_deleted,
            "blobs_deleted": self.blobs_deleted,
            "bytes_freed": self.bytes_freed,
            "blobs_kept_busy": self.blobs_kept_busy,
        }
        if self.stopped_early:
            detail["stopped_early"] = self.stopped_early[:500]
        return detail


class GarbageCollector:
    def __init__(
        self,
        storage: StorageDriver,
        garbage: GarbageStore,
        descriptors: BlobDescriptorCache,
        *,
        grace_seconds: float = 3600.0,
        pin_seconds: float = 3600.0,
        clock: Callable[[], float] = time.time,
        telemetry: Telemetry = NO_TELEMETRY,
        deletions: DeletionLog | None = None,
        events: EventRecorder | None = None,
    ) -> None:
        self.deletions = deletions
        self.events = events  # where a run's gc.completed event goes
        self.pin_seconds = pin_seconds
        self.telemetry = telemetry
        self.storage = storage
        self.garbage = garbage
        self.descriptors = descriptors
        self.grace_seconds = grace_seconds
        self.clock = clock
        self._progress: Progress = NO_PROGRESS  # the running sweep's (one at a time per CLI)

    async def run(
        self,
        *,
        dry_run: bool = False,
        delete_untagged: bool = False,
        actor: str = "gc",
        progress: Progress = NO_PROGRESS,
    ) -> GcReport:
        """Collect; a real run that ends (stopped early or not) is a ``gc.completed`` event
        by ``actor``, and each untagged manifest it deletes a ``manifest.deleted`` event."""
        report = GcReport(dry_run=dry_run)
        log.info("gc: started (dry run: %s, delete untagged: %s)", dry_run, delete_untagged)
        origin = EventOrigin(actor=actor)
        try:
            progress.begin("dry run" if dry_run else "sweep")
            self._progress = progress
            await self._run(report, delete_untagged, origin)
            progress.end()
        except Exception:
            self.telemetry.count("gc_runs", result="failed")
            raise
        finally:
            self._progress = NO_PROGRESS
        result = "dry-run" if dry_run else "stopped" if report.stopped_early else "ok"
        self.telemetry.count("gc_runs", result=result)
        log.info("gc: %s", report.summary())
        if not dry_run and self.events is not None:
            target = EventTarget(detail=report.detail())
            await self.events.record_event(new_event(EventKind.GC_COMPLETED, origin, "", target))
        return report

    async def _run(self, report: GcReport, delete_untagged: bool, origin: EventOrigin) -> None:
        if report.dry_run:
            await self._preview(report, delete_untagged)
            return
        if delete_untagged:
            await self._untagged(report, origin)
        await self._finish_interrupted(report)
        try:
            await self._sweep(report)
        except RegistryError as error:
            report.stopped_early = error.message

    async def _preview(self, report: GcReport, delete_untagged: bool) -> None:
        """Fill ``report`` with what the real run would delete, deleting nothing."""
        pinned_before, committed_before = self._cutoffs()
        created_before = self.clock() - self.grace_seconds
        deleted: list[int] = []
        if delete_untagged:
            graph = await self.garbage.untagged_graph(created_before)
            deleted = untagged_rounds(graph)
            report.manifests = [graph.candidates[m] for m in deleted]
        rows = await self.garbage.freeable_blobs(pinned_before, committed_before, created_before)
        report.blobs = await self.garbage.deleting_blobs(10_000)  # a crashed run's leftovers
        report.blobs += freed_blobs(rows, set(deleted))
        report.manifests_deleted = len(report.manifests)
        report.blobs_deleted = len(report.blobs)
        report.bytes_freed = sum(size for _, size in report.blobs)

    async def _untagged(self, report: GcReport, origin: EventOrigin) -> None:
        seen: set[tuple[str, str]] = set()
        while True:
            now = self.clock()
            batch = await self.garbage.untagged_manifests(now, self.grace_seconds, BATCH)
            batch = [item for item in batch if item not in seen]
            if not batch:
                return
            for repository, digest in batch:
                seen.add((repository, digest))
                if await self.garbage.delete_untagged(
                    repository, digest, now, self.grace_seconds, origin=origin
                ):
                    report.manifests_deleted += 1
                    self._count(report, "gc_manifests_deleted", 1)
                    await self._record_untagged(repository, digest)
            log.info("gc: %d untagged manifests deleted so far", report.manifests_deleted)

    async def _record_untagged(self, repository: str, digest: str) -> None:
        reason = "untagged, listed by no index, older than the grace period"
        log.info("gc: deleted untagged manifest %s@%s", repository, digest,
                 extra={"fields": {"repository": repository, "digest": digest}})  # fmt: skip
        if self.deletions is not None:
            record = DeletionRecord(repository, digest, (), UNTAGGED_RULE, reason, "", self.clock())
            await self.deletions.record_deletion(record)

    async def _finish_interrupted(self, report: GcReport) -> None:
        for digest, size in await self.garbage.deleting_blobs(10_000):
            await self._remove_bytes(digest)
            if await self.garbage.forget_blob(digest):
                self._freed(report, size)

    async def _sweep(self, report: GcReport) -> None:
        seen: set[str] = set()
        while True:
            batch = await self.garbage.collectable_blobs(*self._cutoffs(), BATCH)
            batch = [item for item in batch if item[0] not in seen]
            if not batch:
                return
            for digest, size in batch:
                seen.add(digest)
                if not await self._collect(report, digest, size):
                    report.blobs_kept_busy += 1
            log.info(
                "gc: %d blobs (%d bytes) freed so far, %d kept (in use again)",
                report.blobs_deleted, report.bytes_freed, report.blobs_kept_busy,
            )  # fmt: skip

    async def _collect(self, report: GcReport, digest: str, size: int) -> bool:
        for repository in await self.garbage.repositories_linking(digest):
            await self.descriptors.forget(repository, digest)
        unlinked = await self.garbage.mark_deleting(digest, *self._cutoffs())
        if unlinked is None:
            return False
        self._count(report, "gc_blobs_marked", 1)
        self._count(report, "gc_bytes_marked", size)
        for repository in unlinked:
            await self.descriptors.forget_quietly(repository, digest)
        await self._remove_bytes(digest)
        await self.garbage.forget_blob(digest)
        self._freed(report, size)
        return True

    def _freed(self, report: GcReport, size: int) -> None:
        self._progress.advance(1, size)
        report.blobs_deleted += 1
        report.bytes_freed += size
        self._count(report, "gc_blobs_freed", 1)
        self._count(report, "gc_bytes_freed", size)

    def _count(self, report: GcReport, name: str, amount: int) -> None:
        if not report.dry_run:
            self.telemetry.count(name, amount)

    def _cutoffs(self) -> tuple[float, float]:
        """(pinned_before, committed_before): a pin holds for ``pin_seconds`` from when it
        was taken, so a pin counts as expired once it is older than the grace period."""
        now = self.clock()
        return now - self.grace_seconds + self.pin_seconds, now - self.grace_seconds

    async def _remove_bytes(self, digest: str) -> None:
        await self.storage.delete(blob_dir(parse_digest(digest)))
