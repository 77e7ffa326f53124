"""When manifests were last pulled (``manifests.last_pulled_at``, migration 5), written in
batches by ``services/pulls.py``: one transaction per batch, never on the pull's own path.

A time only moves forward (``last_pulled_at < ?``), so nodes flushing in any order agree, and
a manifest deleted (or re-pushed elsewhere) since it was pulled simply matches no row.
"""

from __future__ import annotations

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

    async def record_pulls(self, pulls: list[tuple[str, str, float]]) -> None:
        """(repository, digest, when) for each manifest pulled, in batches of 500."""
        rows = [(when, digest, repository, when) for repository, digest, when in pulls]
        for start in range(0, len(rows), BATCH):
            batch = rows[start : start + BATCH]

            async def work(
                session: Session, batch: list[tuple[float, str, str, float]] = batch
            ) -> None:
                await session.executemany(_RECORD, batch)

            await self.db.transaction(work)
