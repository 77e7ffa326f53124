"""A reader of the outbox with a durable position of its own (the audit log, SBOMs on push).

A consumer reads the events after its position, makes what it makes of them, and moves its
position in the same transaction as that work (``consume``), with a compare-and-set on the
old position: with several nodes running it, every event is consumed once. A loop reads on
every ``interval`` and once more when it is cancelled (server shutdown).

Order: a position is (writing transaction id, sequence), as the delivery engine's
(``OutboxStore.events_at``). On PostgreSQL a transaction can commit after one that took a later
sequence number; reading in (txid, sequence) order, and only events of transactions older than
every one still running, means such a late event is never behind what was already read, so it
is never skipped, and nothing waits for a gap to close. On SQLite txid is 0 and one writer at
a time makes sequence order commit order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence

from dockyard.core.delivery import OutboxPosition
from dockyard.core.events import StoredEvent
from dockyard.persistence.stores import OutboxStore

log = logging.getLogger("dockyard.events")
PAGE = 500
INTERVAL_SECONDS = 1.0


class OutboxConsumer(ABC):
    """Subclasses say where their position is kept and what consuming a page means."""

    def __init__(self, outbox: OutboxStore, *, interval_seconds: float = INTERVAL_SECONDS) -> None:
        self.outbox = outbox
        self.interval_seconds = interval_seconds

    @abstractmethod
    async def position(self) -> OutboxPosition:
        """How far this consumer has read (the start: not yet)."""

    @abstractmethod
    async def consume(
        self, events: Sequence[StoredEvent], read_from: OutboxPosition, to: OutboxPosition
    ) -> int:
        """Make what the consumer makes of ``events`` and move its position from
        ``read_from`` to ``to`` in one transaction; how many things it made, or -1 when
        another node moved the position first (nothing made)."""

    async def catch_up(self) -> int:
        """Read and consume until nothing new is left; the things made."""
        made = 0
        while True:
            position = await self.position()
            page = await self.outbox.events_at(position, PAGE)
            if not page:
                return made
            events = [stored for _, stored in page]
            made += max(0, await self.consume(events, position, page[-1][0]))

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
