"""The job queue on either backend (tables in ``jobs_schema.py``).

Taking work is one ``UPDATE ... WHERE id = (SELECT ... LIMIT 1) RETURNING``, run on its own:

- PostgreSQL runs it in autocommit (READ COMMITTED), with ``FOR UPDATE SKIP LOCKED`` in the
  sub-select: nodes asking at once each lock a different row, or skip to the next one, and
  none waits for another; the row a node locked is re-checked before it is updated, so a job
  is never handed to two nodes. (Not in ``Database.transaction``: SERIALIZABLE would turn
  the skipped rows into serialization failures.)
- SQLite has one writer: the statement is its own write transaction (the same ``RESERVED``
  lock ``BEGIN IMMEDIATE`` takes), so processes on one file take jobs one after the other.

Every change after that names the lease owner in its ``WHERE``: a node whose lease lapsed
and was taken over can no longer renew, finish or fail the job.
"""

from __future__ import annotations

from dockyard.persistence.job_records import (
    ClaimedJob,
    JobRecord,
    KindCount,
    NewJob,
    ScheduleRecord,
)
from dockyard.persistence.sql.session import Database, Session, placeholders

_COLUMNS = (
    "id, kind, state, payload, attempts, max_attempts, run_after, lease_owner, lease_until, "
    "last_error, result, unique_key, created_at, started_at, finished_at"
)
_INSERT = """
INSERT INTO jobs(kind, payload, state, max_attempts, run_after, unique_key, created_at)
VALUES (?, ?, 'queued', ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id
"""
_INSERT_RUNNING = """
INSERT INTO jobs(kind, payload, state, attempts, max_attempts, run_after, unique_key,
    created_at, started_at, lease_owner, lease_until)
VALUES (?, ?, 'running', 1, ?, ?, ?, ?, ?, ?, ?) RETURNING id
"""
_CLAIM = """
UPDATE jobs SET state = 'running', lease_owner = ?, lease_until = ?, started_at = ?,
    attempts = attempts + 1
WHERE id = (
    SELECT id FROM jobs WHERE kind IN ({kinds}) AND (
        (state IN ('queued', 'failed') AND run_after <= ?)
        OR (state = 'running' AND lease_until < ? AND attempts < max_attempts))
    ORDER BY run_after, id LIMIT 1{lock})
RETURNING id, kind, payload, attempts, max_attempts, created_at
"""
_BURY = """
UPDATE jobs SET state = 'dead', finished_at = ?, lease_until = 0,
    last_error = 'the lease of ' || lease_owner || ' lapsed on the last attempt (its node stopped)'
WHERE state = 'running' AND lease_until < ? AND attempts >= max_attempts
"""
_MINE = "WHERE id = ? AND lease_owner = ? AND state = 'running'"
_COMPLETE = f"""
UPDATE jobs SET state = 'done', result = ?, finished_at = ?, lease_until = 0, last_error = ''
{_MINE}
"""  # noqa: S608 - constant
_FAIL = f"""
UPDATE jobs SET state = ?, run_after = ?, last_error = ?, finished_at = ?, lease_until = 0
{_MINE}
"""  # noqa: S608 - constant
_RELEASE = f"""
UPDATE jobs SET state = 'queued', run_after = ?, lease_until = 0, attempts = attempts - 1
{_MINE}
"""  # noqa: S608 - constant
_REVIVE = """
UPDATE jobs SET state = 'queued', attempts = 0, run_after = ?, lease_until = 0
WHERE id = ? AND state = 'dead'
"""
_PRUNE = """
DELETE FROM jobs WHERE id IN (
    SELECT id FROM jobs WHERE state = 'done' AND finished_at < ? ORDER BY finished_at LIMIT ?)
"""
_LAST_FINISHED = f"""
SELECT {_COLUMNS} FROM jobs WHERE id IN (
    SELECT max(j.id) FROM jobs j JOIN (
        SELECT kind, max(finished_at) AS latest FROM jobs
        WHERE state IN ('done', 'failed', 'dead') AND finished_at > 0 GROUP BY kind
    ) m ON j.kind = m.kind AND j.finished_at = m.latest GROUP BY j.kind)
ORDER BY kind
"""  # noqa: S608 - constant
ERROR_MAX = 2000


def _record(row: tuple[object, ...]) -> JobRecord:
    return JobRecord(*row)  # type: ignore[arg-type]


class SqlJobStore:
    def __init__(self, database: Database, *, skip_locked: bool) -> None:
        """``skip_locked``: the backend has ``FOR UPDATE SKIP LOCKED`` (PostgreSQL)."""
        self.db = database
        self._lock = " FOR UPDATE SKIP LOCKED" if skip_locked else ""

    async def insert(self, job: NewJob) -> int | None:
        return await _insert(self.db, job)

    async def insert_running(self, job: NewJob, owner: str, lease_until: float) -> int:
        row = await self.db.fetchone(
            _INSERT_RUNNING,
            (job.kind, job.payload, job.max_attempts, job.run_after, job.unique_key,
             job.created_at, job.created_at, owner, lease_until),
        )  # fmt: skip
        assert row is not None  # no ON CONFLICT: a duplicate key raises
        return int(row[0])

    async def claim(
        self, kinds: tuple[str, ...], owner: str, *, now: float, lease_until: float
    ) -> ClaimedJob | None:
        if not kinds:
            return None
        sql = _CLAIM.format(kinds=placeholders(len(kinds)), lock=self._lock)
        row = await self.db.fetchone(sql, (owner, lease_until, now, *kinds, now, now))
        return None if row is None else ClaimedJob(*row)

    async def bury_lapsed(self, now: float) -> int:
        return await self.db.execute(_BURY, (now, now))

    async def renew(self, job_id: int, owner: str, lease_until: float) -> bool:
        sql = f"UPDATE jobs SET lease_until = ? {_MINE}"  # noqa: S608 - constant
        return await self.db.execute(sql, (lease_until, job_id, owner)) > 0

    async def complete(self, job_id: int, owner: str, *, now: float, result: str) -> bool:
        params = (result[:ERROR_MAX], now, job_id, owner)
        return await self.db.execute(_COMPLETE, params) > 0

    async def fail(
        self, job_id: int, owner: str, *, now: float, state: str, run_after: float, error: str
    ) -> bool:
        params = (state, run_after, error[:ERROR_MAX], now, job_id, owner)
        return await self.db.execute(_FAIL, params) > 0

    async def release(self, job_id: int, owner: str, *, now: float) -> bool:
        return await self.db.execute(_RELEASE, (now, job_id, owner)) > 0

    async def revive(self, job_id: int, *, now: float) -> bool:
        return await self.db.execute(_REVIVE, (now, job_id)) > 0

    async def prune_done(self, finished_before: float, limit: int) -> int:
        return await self.db.execute(_PRUNE, (finished_before, limit))

    async def claim_schedule(self, kind: str, interval_seconds: float, job: NewJob) -> int | None:
        async def work(session: Session) -> int | None:
            if not await _advance_schedule(session, kind, interval_seconds, job.created_at):
                return None
            pending = await session.fetchone(
                "SELECT 1 FROM jobs WHERE kind = ? AND state IN ('queued', 'running', 'failed')"
                " LIMIT 1",
                (kind,),
            )
            return None if pending is not None else await _insert(session, job)

        return await self.db.transaction(work)

    async def get(self, job_id: int) -> JobRecord | None:
        sql = f"SELECT {_COLUMNS} FROM jobs WHERE id = ?"  # noqa: S608 - constant
        row = await self.db.fetchone(sql, (job_id,))
        return None if row is None else _record(row)

    async def counts(self) -> list[KindCount]:
        rows = await self.db.fetchall(
            "SELECT kind, state, count(*), min(created_at) FROM jobs GROUP BY kind, state "
            "ORDER BY kind, state"
        )
        return [KindCount(str(k), str(s), int(n), float(oldest)) for k, s, n, oldest in rows]

    async def in_state(self, state: str, limit: int) -> list[JobRecord]:
        sql = f"SELECT {_COLUMNS} FROM jobs WHERE state = ? ORDER BY id DESC LIMIT ?"  # noqa: S608
        return [_record(row) for row in await self.db.fetchall(sql, (state, limit))]

    async def last_finished(self) -> list[JobRecord]:
        return [_record(row) for row in await self.db.fetchall(_LAST_FINISHED)]

    async def schedules(self) -> list[ScheduleRecord]:
        rows = await self.db.fetchall(
            "SELECT kind, interval_seconds, next_run FROM job_schedules ORDER BY kind"
        )
        return [ScheduleRecord(str(k), float(i), float(n)) for k, i, n in rows]


async def _insert(session: Session, job: NewJob) -> int | None:
    row = await session.fetchone(
        _INSERT,
        (job.kind, job.payload, job.max_attempts, job.run_after, job.unique_key, job.created_at),
    )
    return None if row is None else int(row[0])


async def _advance_schedule(
    session: Session, kind: str, interval_seconds: float, now: float
) -> bool:
    """Move ``kind``'s next run to ``now + interval`` if it is due (or was never run, or lies
    further ahead than one interval: the interval was shortened); False when not due."""
    row = await session.fetchone("SELECT next_run FROM job_schedules WHERE kind = ?", (kind,))
    following = now + interval_seconds
    if row is None:
        inserted = await session.execute(
            "INSERT INTO job_schedules(kind, interval_seconds, next_run) VALUES (?, ?, ?) "
            "ON CONFLICT DO NOTHING",
            (kind, interval_seconds, following),
        )
        return inserted > 0
    if now < float(row[0]) <= following:
        return False
    await session.execute(
        "UPDATE job_schedules SET next_run = ?, interval_seconds = ? WHERE kind = ?",
        (following, interval_seconds, kind),
    )
    return True
