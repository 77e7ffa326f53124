"""Replication's migration: policies, runs with their per-image results, resumable uploads.

One text for both backends, rendered per dialect (no ``;`` inside literals: SQLite splits
scripts on it); both ``MIGRATIONS`` tuples append ``replication_migration(...)``.

- ``replication_policies``: one row per policy; ``definition`` is the policy as JSON (filters,
  triggers, mapping...), ``credentials`` the peer's username and password as JSON, kept apart
  so that no reader of definitions ever sees them; ``next_run_at`` is when the policy's
  schedule runs next (0: no schedule).
- ``replication_runs``: one row per run (manual, scheduled, on push, reconcile), with its job,
  state (``queued``, ``running``, ``done``, ``failed``, ``stopped``), the counts and a stop
  switch that the running copy polls.
- ``replication_items``: what a run did per image or artifact: ``copied``, ``skipped``,
  ``failed`` (with the error), ``deleted`` or ``planned`` (a dry run).
- ``replication_uploads``: a blob upload to a peer in progress (its session URL), so that a
  run killed half-way continues the upload where the peer says it stopped.
"""

from __future__ import annotations

_REPLICATION = """
CREATE TABLE replication_policies (
    id {id},
    name TEXT NOT NULL UNIQUE,
    definition TEXT NOT NULL,
    credentials TEXT NOT NULL DEFAULT '',
    next_run_at {real} NOT NULL DEFAULT 0,
    created_at {real} NOT NULL,
    updated_at {real} NOT NULL
);
CREATE TABLE replication_runs (
    id {id},
    policy_id BIGINT NOT NULL REFERENCES replication_policies(id) ON DELETE CASCADE,
    trigger TEXT NOT NULL,
    dry_run INTEGER NOT NULL DEFAULT 0,
    scope TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL DEFAULT 'queued'
        CHECK (state IN ('queued', 'running', 'done', 'failed', 'stopped')),
    stop_requested INTEGER NOT NULL DEFAULT 0,
    job_id BIGINT,
    copied INTEGER NOT NULL DEFAULT 0,
    skipped INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    bytes BIGINT NOT NULL DEFAULT 0,
    summary TEXT NOT NULL DEFAULT '',
    created_at {real} NOT NULL,
    started_at {real} NOT NULL DEFAULT 0,
    finished_at {real} NOT NULL DEFAULT 0
);
CREATE INDEX replication_runs_policy ON replication_runs(policy_id, id);
CREATE TABLE replication_items (
    id {id},
    run_id BIGINT NOT NULL REFERENCES replication_runs(id) ON DELETE CASCADE,
    source TEXT NOT NULL,
    target TEXT NOT NULL,
    digest TEXT NOT NULL DEFAULT '',
    outcome TEXT NOT NULL
        CHECK (outcome IN ('copied', 'skipped', 'failed', 'deleted', 'planned')),
    error TEXT NOT NULL DEFAULT '',
    bytes BIGINT NOT NULL DEFAULT 0,
    at {real} NOT NULL
);
CREATE INDEX replication_items_run ON replication_items(run_id, id);
CREATE TABLE replication_uploads (
    policy_id BIGINT NOT NULL REFERENCES replication_policies(id) ON DELETE CASCADE,
    repository TEXT NOT NULL,
    digest TEXT NOT NULL,
    location TEXT NOT NULL,
    updated_at {real} NOT NULL,
    PRIMARY KEY (policy_id, repository, digest)
)
"""

_DIALECTS = {
    "sqlite": {"id": "INTEGER PRIMARY KEY AUTOINCREMENT", "real": "REAL"},
    "postgres": {
        "id": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
        "real": "DOUBLE PRECISION",
    },
}


def replication_migration(dialect: str) -> str:
    """The replication tables in ``dialect`` (``sqlite`` or ``postgres``)."""
    return _REPLICATION.format(**_DIALECTS[dialect])


# Undoes the step (dockyard migrate --to): policies, run history and resumable uploads go.
REPLICATION_DOWNGRADE = """
DROP TABLE replication_uploads;
DROP TABLE replication_items;
DROP TABLE replication_runs;
DROP TABLE replication_policies
"""
