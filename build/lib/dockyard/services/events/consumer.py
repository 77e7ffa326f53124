"""A reader of the outbox with a durable position of its own (the audit log, SBOMs on push).

A consumer reads the events after its position, makes what it makes of them, and moves its
position in the same transaction as that work (``consume``), with a compare-and-set on the
old position: with several nodes running it, every event is consumed once. A loop reads on
every ``interval`` and once more when it is cancelled (server shutdown).

Order on PostgreSQL: a transaction can commit after one that took a later sequence number, so
a sequence missing from what is read may still appear. The reader stops at such a gap and
waits until it has seen the gap for ``gap_seconds`` (a rolled-back transaction leaves a gap
for ever) before it reads past it. On SQLite there are no such gaps.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

from dockyard.core.events import StoredEvent
from dockyard.persistence.stores import OutboxStore

log = logging.getLogger("dockyard.events")
PAGE = 500
INTERVAL_SECONDS = 1.0
GAP_SECONDS = 30.0


class OutboxConsumer(ABC):
    """Subclasses say where their position is kept and what consuming a page means."""

    def __init__(
        self,
        outbox: OutboxStore,
        *,
        interval_seconds: float = INTERVAL_SECONDS,
        gap_seconds: float = GAP_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.outbox = outbox
        self.interval_seconds = interval_seconds
        self.gap_seconds = gap_seconds
        self.clock = clock
        self._gap: tuple[int, float] | None = None  # (missing sequence, first seen)

    @abstractmethod
    async def position(self) -> int:
        """How far this consumer has read (0: not yet)."""

    @abstractmethod
    async def consume(self, events: Sequence[StoredEvent], read_from: int, to: int) -> int:
        """Make what the consumer makes of ``events`` and move its position from
        ``read_from`` to ``to`` in one transaction; how many things it made, or -1 when
        another node moved the position first (nothing made)."""

    async def catch_up(self) -> int:
        """Read and consume until nothing new (or a fresh gap) is left; the things made."""
        made = 0
        while True:
            position = await self.position()
            taken = self._settled(position, await self.outbox.events_after(position, PAGE))
            if not taken:
                return made
            made += max(0, await self.consume(taken, position, taken[-1].sequence))

    def _settled(self, position: int, page: Sequence[StoredEvent]) -> list[StoredEvent]:
        """The events that can be read now: those up to the first gap in the sequence, and
        past a gap once it has stood for ``gap_seconds``."""
        expected, taken = position + 1, []
        for stored in page:
            if stored.sequence != expected and not self._gap_settled(expected):
                break
            taken.append(stored)
            expected = stored.sequence + 1
        return taken

    def _gap_settled(self, missing: int) -> bool:
        now = self.clock()
        if self._gap is None or self._gap[0] != missing:
            self._gap = (missing, now)
        return now - self._gap[1] >= self.gap_seconds

    async def run_forever(self) -> None:
        """Catch up every interval; once more when cancelled (server shutdown)."""
        try:
            while True:
                try:
                    await self.catch_up()
                except Exception as exc:  # the database is busy or away: try again later
                    log.warning("%s: could not consume events: %s", type(self).__name__, exc)
                await asyncio.sleep(self.interval_seconds)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.catch_up(), timeout=5)
            raise
