"""When manifests were last pulled (``manifests.last_pulled_at``, migration 5), written in
batches by ``services/lifecycle/pulls.py``: one transaction per batch, with the batch's
``manifest.pulled`` events, never on the pull's own path.

A time only moves forward (``last_pulled_at < ?``), so nodes flushing in any order agree, and
a manifest deleted (or re-pushed elsewhere) since it was pulled simply matches no row.
"""

from __future__ import annotations

from collections.abc import Sequence

from dockyard.core.events import Event
from dockyard.persistence.sql.outbox import record_many
from dockyard.persistence.sql.session import Database, Session

_RECORD = """
UPDATE manifests SET last_pulled_at = ?
WHERE digest = ? AND repository_id = (SELECT id FROM repositories WHERE name = ?)
AND (last_pulled_at IS NULL OR last_pulled_at < ?)
"""
BATCH = 500


class SqlPulls:
    def __init__(self, database: Database) -> None:
        self.db = database

    async def record_pulls(
        self, pulls: list[tuple[str, str, float]], events: Sequence[Event] = ()
    ) -> None:
        """(repository, digest, when) for each manifest pulled, and the ``manifest.pulled``
        events that stand for them, in one transaction (the caller keeps batches small:
        ``services/lifecycle/pulls.py`` hands at most 500 manifests at a time)."""
        rows = [(when, digest, repository, when) for repository, digest, when in pulls]

        async def work(session: Session) -> None:
            for start in range(0, len(rows), BATCH):
                await session.executemany(_RECORD, rows[start : start + BATCH])
            await record_many(session, events)

        await self.db.transaction(work)
