"""Recording manifest pulls, and their ``manifest.pulled`` events, without writing on the
pull path.

A manifest GET (or HEAD) is the registry's hottest request, so it only notes the pull in
dicts in memory: the time per (repository, digest), and for a GET a count per (repository,
digest, actor). A loop writes what accumulated every few seconds
(``dockyard.retention.pullflush``, 5 s), in transactions of at most ``BATCH`` manifests each,
and once more when the server shuts down. Each transaction sets the pull times of its
manifests and stores their ``manifest.pulled`` events: one per (repository, digest, actor)
with ``target.count`` pulls, the tags they used, the time and request id of the first of
them. So a pull costs no database round trip, and the events cost one INSERT per manifest
and actor per interval however many pulls there were (docs/events.md: "Pulls").

A HEAD is a check, not a download: it moves the pull time (retention's "not pulled for")
but is no pull event. Blob GETs are neither.

While the registry is read-only (``dockyard maintenance readonly``) nothing is written; the
pulls wait in memory. Best effort: if a transaction fails (the database is busy or away), its
pulls and those not yet written are kept for the next flush (up to ``MAX_PENDING`` manifests;
beyond that the failed batch is dropped) and ``registry_pull_flush_failures_total`` counts
the failure. A process killed outright loses at most one interval of pulls and their events:
pull events are at most once, the other kinds exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field

from dockyard.core.events import Event, EventKind, EventOrigin, EventTarget, new_event
from dockyard.persistence.lifecycle_records import PullStore
from dockyard.services.telemetry import NO_TELEMETRY, Telemetry

log = logging.getLogger("dockyard.pulls")
MAX_PENDING = 100_000
BATCH = 500  # manifests per transaction

Manifest = tuple[str, str]  # (repository, digest)
PullKey = tuple[str, str, str | None]  # (repository, digest, actor)


@dataclass(slots=True)
class _Pulls:
    """The GETs of one manifest by one actor since the last flush."""

    first: float
    request_id: str
    media_type: str
    size: int
    count: int = 0
    tags: dict[str, None] = field(default_factory=dict)  # the tags used, in order

    def merge(self, later: _Pulls) -> None:
        self.count += later.count
        self.tags.update(later.tags)

    def event(self, key: PullKey) -> Event:
        repository, digest, actor = key
        target = EventTarget(
            digest, self.media_type, self.size, tags=tuple(self.tags), count=self.count
        )
        origin = EventOrigin(actor=actor, request_id=self.request_id)
        return new_event(EventKind.MANIFEST_PULLED, origin, repository, target, now=self.first)


@dataclass(slots=True)
class _Batch:
    times: dict[Manifest, float]
    pulls: dict[PullKey, _Pulls]


class PullRecorder:
    def __init__(
        self,
        store: PullStore,
        *,
        interval_seconds: float = 5.0,
        telemetry: Telemetry = NO_TELEMETRY,
        clock: Callable[[], float] = time.time,
        paused: Callable[[], Awaitable[bool]] | None = None,
    ) -> None:
        self.store = store
        self.paused = paused  # the read-only switch: pulls are kept, not written, while on
        self.interval_seconds = interval_seconds
        self.telemetry = telemetry
        self.clock = clock
        self._pending: dict[Manifest, float] = {}
        self._pulls: dict[PullKey, _Pulls] = {}

    def seen(self, repository: str, digest: str) -> None:
        """A look at ``digest`` in ``repository`` (a HEAD), now (no I/O)."""
        self._pending[(repository, digest)] = self.clock()

    def pulled(
        self,
        repository: str,
        digest: str,
        *,
        actor: str | None,
        request_id: str = "",
        tag: str = "",
        media_type: str = "",
        size: int = 0,
    ) -> None:
        """A GET of ``digest`` (by ``tag``, when not by digest), now (no I/O)."""
        now = self.clock()
        self._pending[(repository, digest)] = now
        key = (repository, digest, actor)
        entry = self._pulls.get(key)
        if entry is None:
            if len(self._pulls) >= MAX_PENDING:
                return  # the time is kept; this actor's pulls go uncounted until the flush
            entry = self._pulls[key] = _Pulls(now, request_id, media_type, size)
        entry.count += 1
        if tag:
            entry.tags[tag] = None

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def flush(self) -> bool:
        """Write what was pulled since the last flush; False (and kept) when that failed or
        the registry is read-only."""
        if not self._pending:
            return True
        if self.paused is not None and await self.paused():
            return False
        batches = list(_batches(self._pending, self._pulls))
        self._pending, self._pulls = {}, {}
        for number, batch in enumerate(batches):
            if not await self._write(batch):
                for unwritten in batches[number:]:
                    self._keep(unwritten)
                return False
        return True

    async def _write(self, batch: _Batch) -> bool:
        rows = [(r, d, when) for (r, d), when in batch.times.items()]
        events = [pulls.event(key) for key, pulls in batch.pulls.items()]
        try:
            await self.store.record_pulls(rows, events)
        except Exception as exc:  # best effort: keep them for the next flush
            self.telemetry.count("pull_flush_failures")
            log.warning("could not record %d manifest pulls: %s", len(rows), exc)
            return False
        self.telemetry.count("pulls_recorded", len(rows))
        return True

    def _keep(self, batch: _Batch) -> None:
        if len(batch.times) + len(self._pending) > MAX_PENDING:
            log.warning("dropping %d unrecorded manifest pulls", len(batch.times))
            return
        for key, when in batch.times.items():
            self._pending[key] = max(when, self._pending.get(key, when))
        for pull_key, pulls in batch.pulls.items():
            newer = self._pulls.get(pull_key)
            if newer is not None:
                pulls.merge(newer)
            self._pulls[pull_key] = pulls

    async def run_forever(self) -> None:
        """Flush every interval; when cancelled (server shutdown), flush once more."""
        try:
            while True:
                await asyncio.sleep(self.interval_seconds)
                try:
                    await self.flush()
                except Exception:  # a bug must not stop recording for the process's life
                    log.exception("recording manifest pulls failed")
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.flush(), timeout=5)
            raise


def _batches(times: dict[Manifest, float], pulls: dict[PullKey, _Pulls]) -> Iterator[_Batch]:
    """At most ``BATCH`` manifests each, with the pull counts of those manifests."""
    by_manifest: dict[Manifest, list[PullKey]] = {}
    for key in pulls:
        by_manifest.setdefault((key[0], key[1]), []).append(key)
    manifests = list(times)
    for start in range(0, len(manifests), BATCH):
        chunk = manifests[start : start + BATCH]
        batch = _Batch({m: times[m] for m in chunk}, {})
        for manifest in chunk:
            for key in by_manifest.get(manifest, ()):
                batch.pulls[key] = pulls[key]
        yield batch
