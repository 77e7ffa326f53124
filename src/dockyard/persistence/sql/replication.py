"""Replication policies, runs, per-image results and uploads to resume (``replication_*``)."""

from __future__ import annotations

from collections.abc import Sequence

from dockyard.persistence.replication_records import ItemRow, PolicyRow, RunRow, RunTotals
from dockyard.persistence.sql.session import Database, Row

_POLICY = (
    "SELECT id, name, definition, next_run_at, created_at, updated_at FROM replication_policies"
)
_RUN = """
SELECT r.id, r.policy_id, p.name, r.trigger, r.dry_run, r.scope, r.state, r.stop_requested,
    r.job_id, r.copied, r.skipped, r.failed, r.bytes, r.summary, r.created_at, r.started_at,
    r.finished_at
FROM replication_runs r JOIN replication_policies p ON p.id = r.policy_id
"""
_ITEM = "SELECT source, target, digest, outcome, error, bytes, at FROM replication_items"
_REMEMBER_UPLOAD = """
INSERT INTO replication_uploads(policy_id, repository, digest, location, updated_at)
VALUES (?, ?, ?, ?, ?)
ON CONFLICT (policy_id, repository, digest) DO UPDATE SET location = excluded.location,
    updated_at = excluded.updated_at
"""


def _policy(row: Row) -> PolicyRow:
    return PolicyRow(int(row[0]), str(row[1]), str(row[2]), float(row[3]), float(row[4]),
                     float(row[5]))  # fmt: skip


def _run(row: Row) -> RunRow:
    return RunRow(
        int(row[0]), int(row[1]), str(row[2]), str(row[3]), bool(row[4]), str(row[5]),
        str(row[6]), bool(row[7]), None if row[8] is None else int(row[8]), int(row[9]),
        int(row[10]), int(row[11]), int(row[12]), str(row[13]), float(row[14]), float(row[15]),
        float(row[16]),
    )  # fmt: skip


class SqlReplicationStore:
    def __init__(self, database: Database) -> None:
        self.db = database

    # policies -----------------------------------------------------------------------------

    async def create_policy(
        self, name: str, definition: str, credentials: str, next_run_at: float, now: float
    ) -> int | None:
        """The new policy's id; None when the name is taken."""
        row = await self.db.fetchone(
            "INSERT INTO replication_policies(name, definition, credentials, next_run_at,"
            " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
            " RETURNING id",
            (name, definition, credentials, next_run_at, now, now),
        )
        return None if row is None else int(row[0])

    async def update_policy(
        self, policy_id: int, definition: str, credentials: str | None, next_run_at: float,
        now: float,
    ) -> bool:  # fmt: skip
        """Replace the definition (and the credentials unless None)."""
        if credentials is None:
            changed = await self.db.execute(
                "UPDATE replication_policies SET definition = ?, next_run_at = ?, updated_at = ?"
                " WHERE id = ?",
                (definition, next_run_at, now, policy_id),
            )
        else:
            changed = await self.db.execute(
                "UPDATE replication_policies SET definition = ?, credentials = ?, next_run_at = ?,"
                " updated_at = ? WHERE id = ?",
                (definition, credentials, next_run_at, now, policy_id),
            )
        return changed > 0

    async def policy(self, name: str) -> PolicyRow | None:
        row = await self.db.fetchone(_POLICY + " WHERE name = ?", (name,))
        return None if row is None else _policy(row)

    async def policy_by_id(self, policy_id: int) -> PolicyRow | None:
        row = await self.db.fetchone(_POLICY + " WHERE id = ?", (policy_id,))
        return None if row is None else _policy(row)

    async def policies(self) -> list[PolicyRow]:
        return [_policy(row) for row in await self.db.fetchall(_POLICY + " ORDER BY name")]

    async def credentials(self, policy_id: int) -> str:
        row = await self.db.fetchone(
            "SELECT credentials FROM replication_policies WHERE id = ?", (policy_id,)
        )
        return "" if row is None else str(row[0])

    async def delete_policy(self, name: str) -> bool:
        return await self.db.execute("DELETE FROM replication_policies WHERE name = ?", (name,)) > 0

    async def due_policies(self, now: float) -> list[PolicyRow]:
        rows = await self.db.fetchall(
            _POLICY + " WHERE next_run_at > 0 AND next_run_at <= ? ORDER BY next_run_at", (now,)
        )
        return [_policy(row) for row in rows]

    async def advance_schedule(self, policy_id: int, expected: float, next_run_at: float) -> bool:
        """Move the policy's next run from ``expected`` (compare-and-set: one node wins)."""
        changed = await self.db.execute(
            "UPDATE replication_policies SET next_run_at = ? WHERE id = ? AND next_run_at = ?",
            (next_run_at, policy_id, expected),
        )
        return changed > 0

    # runs ---------------------------------------------------------------------------------

    async def create_run(
        self, policy_id: int, trigger: str, dry_run: bool, scope: str, now: float
    ) -> int:
        row = await self.db.fetchone(
            "INSERT INTO replication_runs(policy_id, trigger, dry_run, scope, created_at)"
            " VALUES (?, ?, ?, ?, ?) RETURNING id",
            (policy_id, trigger, int(dry_run), scope, now),
        )
        assert row is not None
        return int(row[0])

    async def attach_job(self, run_id: int, job_id: int) -> None:
        await self.db.execute("UPDATE replication_runs SET job_id = ? WHERE id = ?",
                              (job_id, run_id))  # fmt: skip

    async def start_run(self, run_id: int, now: float) -> bool:
        """Mark the run running (again, after a crash); False when it is over or stopped."""
        changed = await self.db.execute(
            "UPDATE replication_runs SET state = 'running', started_at = ?"
            " WHERE id = ? AND state IN ('queued', 'running', 'failed') AND stop_requested = 0",
            (now, run_id),
        )
        return changed > 0

    async def finish_run(self, run_id: int, totals: RunTotals, now: float) -> None:
        await self.db.execute(
            "UPDATE replication_runs SET state = ?, copied = ?, skipped = ?, failed = ?,"
            " bytes = ?, summary = ?, finished_at = ? WHERE id = ?",
            (totals.state, totals.copied, totals.skipped, totals.failed, totals.bytes,
             totals.summary, now, run_id),
        )  # fmt: skip

    async def request_stop(self, run_id: int, now: float) -> bool:
        """Ask a run to stop; a queued run is stopped at once. False: unknown or over."""
        changed = await self.db.execute(
            "UPDATE replication_runs SET stop_requested = 1 WHERE id = ?"
            " AND state IN ('queued', 'running', 'failed')",
            (run_id,),
        )
        await self.db.execute(
            "UPDATE replication_runs SET state = 'stopped', finished_at = ?"
            " WHERE id = ? AND state = 'queued'",
            (now, run_id),
        )
        return changed > 0

    async def stop_requested(self, run_id: int) -> bool:
        row = await self.db.fetchone(
            "SELECT stop_requested FROM replication_runs WHERE id = ?", (run_id,)
        )
        return row is None or bool(row[0])

    async def run(self, run_id: int) -> RunRow | None:
        row = await self.db.fetchone(_RUN + " WHERE r.id = ?", (run_id,))
        return None if row is None else _run(row)

    async def runs(self, policy_id: int | None, limit: int) -> list[RunRow]:
        if policy_id is None:
            rows = await self.db.fetchall(_RUN + " ORDER BY r.id DESC LIMIT ?", (limit,))
        else:
            rows = await self.db.fetchall(
                _RUN + " WHERE r.policy_id = ? ORDER BY r.id DESC LIMIT ?", (policy_id, limit)
            )
        return [_run(row) for row in rows]

    async def add_items(self, run_id: int, items: Sequence[ItemRow]) -> None:
        await self.db.executemany(
            "INSERT INTO replication_items(run_id, source, target, digest, outcome, error, bytes,"
            " at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(run_id, i.source, i.target, i.digest, i.outcome, i.error, i.bytes, i.at)
             for i in items],
        )  # fmt: skip

    async def items(self, run_id: int, limit: int) -> list[ItemRow]:
        rows = await self.db.fetchall(_ITEM + " WHERE run_id = ? ORDER BY id LIMIT ?",
                                      (run_id, limit))  # fmt: skip
        return [ItemRow(str(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]), int(r[5]),
                        float(r[6])) for r in rows]  # fmt: skip

    # uploads to resume --------------------------------------------------------------------

    async def upload(self, policy_id: int, repository: str, digest: str) -> str | None:
        row = await self.db.fetchone(
            "SELECT location FROM replication_uploads WHERE policy_id = ? AND repository = ?"
            " AND digest = ?",
            (policy_id, repository, digest),
        )
        return None if row is None else str(row[0])

    async def remember_upload(
        self, policy_id: int, repository: str, digest: str, location: str, now: float
    ) -> None:
        await self.db.execute(_REMEMBER_UPLOAD, (policy_id, repository, digest, location, now))

    async def forget_upload(self, policy_id: int, repository: str, digest: str) -> None:
        await self.db.execute(
            "DELETE FROM replication_uploads WHERE policy_id = ? AND repository = ? AND digest = ?",
            (policy_id, repository, digest),
        )
