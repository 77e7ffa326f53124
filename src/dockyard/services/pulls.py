"""Recording manifest pulls without writing on the pull path.

A manifest GET (or HEAD) is the registry's hottest request, so it only notes the pull in a
dict in memory (one entry per repository and digest, whatever the number of pulls); a loop
writes what accumulated every few seconds (``dockyard.retention.pullflush``, 5 s) in one
batched transaction, and once more when the server shuts down. So each process writes a
manifest's pull time at most once per interval, and a pull costs no database round trip.

While the registry is read-only (``dockyard maintenance readonly``) nothing is written; the
pulls wait in memory. Best effort: if a flush fails (the database is busy or away), the pulls
are kept for the next flush (up to ``MAX_PENDING`` manifests; beyond that the failed batch is
dropped) and ``registry_pull_flush_failures_total`` counts the failure. A process killed
outright loses at most one interval of pulls, which only makes "not pulled for N days" a few
seconds generous.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from dockyard.persistence.lifecycle_records import PullStore
from dockyard.services.telemetry import NO_TELEMETRY, Telemetry

log = logging.getLogger("dockyard.pulls")
MAX_PENDING = 100_000


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
        self._pending: dict[tuple[str, str], float] = {}

    def seen(self, repository: str, digest: str) -> None:
        """A pull of ``digest`` in ``repository``, now (no I/O)."""
        self._pending[(repository, digest)] = self.clock()

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
        batch, self._pending = self._pending, {}
        try:
            await self.store.record_pulls([(r, d, when) for (r, d), when in batch.items()])
        except Exception as exc:  # best effort: keep them for the next flush
            self.telemetry.count("pull_flush_failures")
            log.warning("could not record %d manifest pulls: %s", len(batch), exc)
            self._keep(batch)
            return False
        self.telemetry.count("pulls_recorded", len(batch))
        return True

    def _keep(self, batch: dict[tuple[str, str], float]) -> None:
        if len(batch) + len(self._pending) > MAX_PENDING:
            log.warning("dropping %d unrecorded manifest pulls", len(batch))
            return
        for key, when in batch.items():
            self._pending[key] = max(when, self._pending.get(key, when))

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
