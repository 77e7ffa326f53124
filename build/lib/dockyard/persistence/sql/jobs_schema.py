"""The job queue: background work every node can take, and the schedules that feed it.

One text for both backends, rendered per dialect (no ``;`` inside literals: SQLite splits
scripts on it); both ``MIGRATIONS`` tuples append ``jobs_migration(...)``.

- ``jobs``: one row per piece of work. ``state`` is ``queued`` (waiting for ``run_after``),
  ``running`` (``lease_owner`` holds it until ``lease_until``), ``done``, ``failed`` (an
  attempt failed; waiting for ``run_after`` to try again) or ``dead`` (out of attempts: the
  dead letters, kept until put back by hand). ``unique_key`` (NULL for most jobs) refuses a
  second job with the same key while the first row exists. ``lease_owner`` stays set after
  a run: it names the node that ran it last.
- ``job_schedules``: one row per periodic kind with the time of its next run, so N nodes
  enqueue each run once between them and a restart neither skips a run nor repeats one.
- ``job_runs`` (migration 4's leases per scheduled job) goes: the queue replaces it.
"""

from __future__ import annotations

_JOBS = """
CREATE TABLE jobs (
    id {id},
    kind TEXT NOT NULL,
    payload TEXT NOT NULL DEFAULT '{{}}',
    state TEXT NOT NULL DEFAULT 'queued'
        CHECK (state IN ('queued', 'running', 'done', 'failed', 'dead')),
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL DEFAULT 1,
    run_after {real} NOT NULL,
    lease_owner TEXT NOT NULL DEFAULT '',
    lease_until {real} NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    result TEXT NOT NULL DEFAULT '',
    unique_key TEXT UNIQUE,
    created_at {real} NOT NULL,
    started_at {real} NOT NULL DEFAULT 0,
    finished_at {real} NOT NULL DEFAULT 0
);
CREATE INDEX jobs_waiting ON jobs(run_after, id) WHERE state IN ('queued', 'failed');
CREATE INDEX jobs_running ON jobs(lease_until) WHERE state = 'running';
CREATE INDEX jobs_kind_state ON jobs(kind, state);
CREATE INDEX jobs_finished ON jobs(finished_at) WHERE state = 'done';
CREATE TABLE job_schedules (
    kind TEXT PRIMARY KEY,
    interval_seconds {real} NOT NULL,
    next_run {real} NOT NULL
);
DROP TABLE job_runs
"""

_DIALECTS = {
    "sqlite": {"id": "INTEGER PRIMARY KEY AUTOINCREMENT", "real": "REAL"},
    "postgres": {
        "id": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
        "real": "DOUBLE PRECISION",
    },
}

JOB_TABLES = ("jobs", "job_schedules")


def jobs_migration(dialect: str) -> str:
    """The ``jobs`` and ``job_schedules`` tables in ``dialect`` (``sqlite`` or ``postgres``)."""
    return _JOBS.format(**_DIALECTS[dialect])
