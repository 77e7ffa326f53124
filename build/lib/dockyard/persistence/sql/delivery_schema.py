"""The delivery migration: where the delivery engine keeps its place and its work.

- ``outbox_events.txid``: on PostgreSQL the id of the transaction that wrote the event, so a
  reader can page in an order no late commit can overtake (``sql/outbox.py``); 0 on SQLite,
  whose single writer commits in sequence order anyway.
- ``outbox_events.request``: the HTTP request behind the event (``core.events.EventRequest``)
  as JSON, ``''`` when there was none.
- ``delivery_cursors``: how far the dispatcher has read the outbox, as (txid, sequence). It starts
  at the end of what the outbox holds when this migration runs: older events are not sent.
- ``event_deliveries``: one row per (subscription, event) that the subscription wants, with
  its state (pending, delivered, dead), attempts, the next attempt's time, the lease of the
  node sending it, and the last answer.
"""

from __future__ import annotations

_DELIVERIES = """
ALTER TABLE outbox_events ADD COLUMN txid {txid};
ALTER TABLE outbox_events ADD COLUMN request TEXT NOT NULL DEFAULT '';
CREATE INDEX outbox_events_position ON outbox_events(txid, sequence);
CREATE TABLE delivery_cursors (
    name TEXT PRIMARY KEY,
    txid BIGINT NOT NULL,
    sequence BIGINT NOT NULL,
    updated_at {real} NOT NULL
);
INSERT INTO delivery_cursors(name, txid, sequence, updated_at)
    SELECT 'dispatch', coalesce(max(txid), 0), coalesce(max(sequence), 0), 0 FROM outbox_events;
CREATE TABLE event_deliveries (
    id {id},
    subscription TEXT NOT NULL,
    sequence BIGINT NOT NULL,
    event_id TEXT NOT NULL,
    repository TEXT NOT NULL,
    kind TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at {real} NOT NULL,
    lease_owner TEXT NOT NULL DEFAULT '',
    lease_until {real} NOT NULL DEFAULT 0,
    last_status INTEGER NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    created_at {real} NOT NULL,
    finished_at {real},
    UNIQUE (subscription, event_id)
);
CREATE INDEX event_deliveries_lane ON event_deliveries(subscription, repository, id)
    WHERE state = 'pending';
CREATE INDEX event_deliveries_due ON event_deliveries(next_attempt_at) WHERE state = 'pending';
CREATE INDEX event_deliveries_sequence ON event_deliveries(sequence);
CREATE INDEX event_deliveries_state ON event_deliveries(state, id)
"""

_DIALECTS = {
    "sqlite": {
        "txid": "INTEGER NOT NULL DEFAULT 0",
        "real": "REAL",
        "id": "INTEGER PRIMARY KEY AUTOINCREMENT",
    },
    "postgres": {
        "txid": "BIGINT NOT NULL DEFAULT (pg_current_xact_id()::text::bigint)",
        "real": "DOUBLE PRECISION",
        "id": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
    },
}


def delivery_migration(dialect: str) -> str:
    """The delivery tables and outbox columns in ``dialect`` (``sqlite`` or ``postgres``)."""
    return _DELIVERIES.format(**_DIALECTS[dialect])


# Undoes the step (dockyard migrate --to): deliveries not yet sent are lost with it.
DELIVERY_DOWNGRADE = """
DROP TABLE event_deliveries;
DROP TABLE delivery_cursors;
DROP INDEX outbox_events_position;
ALTER TABLE outbox_events DROP COLUMN request;
ALTER TABLE outbox_events DROP COLUMN txid
"""
