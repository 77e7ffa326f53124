"""The migration for the remaining domain events (docs/events.md), one text for both backends.

- ``tags.previous_manifest_id``: the manifest a tag pointed to before its last move, written
  by the tag's upsert itself (``SET previous_manifest_id = tags.manifest_id``), so a push
  learns what it moved a tag away from in the statement that moves it, without another read.
- ``quota_alerts``: the projects whose usage is above the warning threshold; a row appears
  with the ``quota.warning`` event in one transaction (so one event per crossing, whatever
  the number of nodes) and goes when the usage is seen below the threshold again.
- ``event_cursors``: how far each outbox consumer (the audit log) has read, moved in the
  transaction that writes what it made of the events.
"""

from __future__ import annotations

_TEMPLATE = """
ALTER TABLE tags ADD COLUMN previous_manifest_id {bigint};
CREATE TABLE quota_alerts (
    project TEXT PRIMARY KEY,
    raised_at {real} NOT NULL
);
CREATE TABLE event_cursors (
    consumer TEXT PRIMARY KEY,
    position {bigint} NOT NULL,
    updated_at {real} NOT NULL
)
"""

_DIALECTS = {
    "sqlite": {"bigint": "INTEGER", "real": "REAL"},
    "postgres": {"bigint": "BIGINT", "real": "DOUBLE PRECISION"},
}


def events_more_migration(dialect: str) -> str:
    """The tables and column above in ``dialect`` (``sqlite`` or ``postgres``)."""
    return _TEMPLATE.format(**_DIALECTS[dialect])
