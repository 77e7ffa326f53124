"""Migration 8: the outbox, where domain events are stored in the transaction of their change.

One text for both backends, rendered per dialect. ``sequence`` only grows: SQLite's
AUTOINCREMENT never hands out a number again, even after the newest row is deleted, and a
PostgreSQL identity never goes back. ``event_id`` is the event's own stable id;
``target`` is the event's target as JSON (``core.events.EventTarget``).
"""

from __future__ import annotations

_OUTBOX = """
CREATE TABLE outbox_events (
    sequence {sequence},
    event_id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    created_at {real} NOT NULL,
    repository TEXT NOT NULL,
    actor TEXT,
    request_id TEXT NOT NULL DEFAULT '',
    target TEXT NOT NULL
);
CREATE INDEX outbox_events_repository ON outbox_events(repository, sequence)
"""

_DIALECTS = {
    "sqlite": {"sequence": "INTEGER PRIMARY KEY AUTOINCREMENT", "real": "REAL"},
    "postgres": {
        "sequence": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
        "real": "DOUBLE PRECISION",
    },
}


def outbox_migration(dialect: str) -> str:
    """The ``outbox_events`` table in ``dialect`` (``sqlite`` or ``postgres``)."""
    return _OUTBOX.format(**_DIALECTS[dialect])
