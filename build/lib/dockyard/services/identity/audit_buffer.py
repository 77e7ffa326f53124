"""Audit events written in batches by a background task, never on the request path.

Registry events (pushes, pulls, deletes) are :meth:`AuditBuffer.offer` ed after the response
has gone out: a :class:`PendingEvent` (a plain tuple; the row and its JSON are made by the
writer) appended to a bounded in-memory queue, no I/O, no waiting. A loop started with
the server (:meth:`AuditBuffer.run_forever`) writes what accumulated every ``interval``
seconds, or as soon as ``batch`` events wait, in one transaction per batch; when the server
shuts down it writes what is left.

When the queue is full (the database is slow or away for long) new events are dropped and
counted (``dropped``, exported as ``registry_audit_events_dropped_total``) rather than making
requests wait. A failed write keeps its batch for the next attempt, as far as the queue has
room. A process killed outright loses at most what was queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from typing import Any, NamedTuple

import msgspec

from dockyard.persistence.identity_records import AuditEvent
from dockyard.persistence.stores import AuditStore

log = logging.getLogger("dockyard.audit")
CAPACITY = 10_000
BATCH = 500
INTERVAL_SECONDS = 1.0


class PendingEvent(NamedTuple):
    """An event as noted on the request path, cheap to make; ``row`` makes the stored form."""

    actor: str
    actor_kind: str
    event: str
    outcome: str
    target: str
    client: str
    detail: dict[str, Any]
    created_at: float

    def row(self) -> AuditEvent:
        detail = msgspec.json.encode(self.detail).decode()
        return AuditEvent(self.actor, self.actor_kind, self.event, self.outcome, self.target,
                          self.client, detail, self.created_at)  # fmt: skip


class AuditBuffer:
    def __init__(
        self,
        store: AuditStore,
        *,
        capacity: int = CAPACITY,
        batch: int = BATCH,
        interval_seconds: float = INTERVAL_SECONDS,
    ) -> None:
        self.store = store
        self.capacity = capacity
        self.batch = batch
        self.interval_seconds = interval_seconds
        self._queue: deque[PendingEvent] = deque()
        self._full = asyncio.Event()
        self.dropped = 0  # events refused because the queue was full
        self.written = 0
        self.failures = 0  # batches whose write failed (kept for the next attempt)

    @property
    def pending(self) -> int:
        return len(self._queue)

    def offer(self, event: PendingEvent) -> bool:
        """Queue ``event`` for writing; False (and counted) when the queue is full."""
        if len(self._queue) >= self.capacity:
            self.dropped += 1
            return False
        self._queue.append(event)
        if len(self._queue) == self.batch:
            self._full.set()
        return True

    async def flush(self) -> bool:
        """Write everything queued, a batch per transaction; False when a write failed."""
        while self._queue:
            taken = [self._queue.popleft() for _ in range(min(self.batch, len(self._queue)))]
            try:
                await self.store.append_many([pending.row() for pending in taken])
            except Exception as exc:  # the database is busy or away: keep them, try later
                self.failures += 1
                log.warning("could not write %d audit events: %s", len(taken), exc)
                self._requeue(taken)
                return False
            self.written += len(taken)
        return True

    def _requeue(self, taken: list[PendingEvent]) -> None:
        room = self.capacity - len(self._queue)
        kept = taken[:room] if room > 0 else []
        self.dropped += len(taken) - len(kept)
        self._queue.extendleft(reversed(kept))

    async def run_forever(self) -> None:
        """Write every interval (sooner when a batch is waiting); once more when cancelled."""
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._full.wait(), self.interval_seconds)
                self._full.clear()
                await self.flush()
        except asyncio.CancelledError:
            await self.flush()
            raise
