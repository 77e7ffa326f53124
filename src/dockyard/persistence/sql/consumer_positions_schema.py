"""The migration that gives each outbox consumer's position a transaction id (docs/events.md).

``event_cursors.txid``: a consumer's position becomes (txid, sequence), the order in which the
delivery engine reads the outbox, which no late commit on PostgreSQL can overtake
(``sql/outbox.py``). An existing position N (a sequence) becomes (T, N), T the smallest txid of
the events after N: every event not yet consumed is past it, while the few consumed events
of later transactions with smaller sequences may be consumed once more (the audit log then
holds such a row twice; SBOM jobs are unique per image). With no event after N, T is the
largest txid in the outbox. On SQLite txid is always 0.
"""

from __future__ import annotations

_TEMPLATE = """
ALTER TABLE event_cursors ADD COLUMN txid {bigint} NOT NULL DEFAULT 0;
UPDATE event_cursors SET txid = coalesce(
    (SELECT min(o.txid) FROM outbox_events o WHERE o.sequence > event_cursors.position),
    (SELECT max(o.txid) FROM outbox_events o),
    0)
"""

_DIALECTS = {"sqlite": {"bigint": "INTEGER"}, "postgres": {"bigint": "BIGINT"}}


def consumer_positions_migration(dialect: str) -> str:
    """The column above in ``dialect`` (``sqlite`` or ``postgres``)."""
    return _TEMPLATE.format(**_DIALECTS[dialect])


# Undoes the step (dockyard migrate --to): the consumers go back to their sequence positions.
CONSUMER_POSITIONS_DOWNGRADE = "ALTER TABLE event_cursors DROP COLUMN txid"
