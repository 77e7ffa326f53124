"""Refusals in the audit log, sampled per address and capped per node (on both backends)."""

from __future__ import annotations

import json
from typing import Any

from dockyard.persistence.identity_records import AuditQuery
from dockyard.persistence.sql.audit import SqlAuditStore
from dockyard.services.identity.audit_buffer import AuditBuffer
from dockyard.services.identity.refusals import Refusal, RefusalAudit
from unit.identity.conftest import Run


def throttled(client: str) -> Refusal:
    return Refusal("login.throttled", "admin", client, "user", {"status": 429})


def test_a_flood_is_one_row_per_address_and_interval_within_a_cap(
    audit_store: SqlAuditStore, run: Run[Any]
) -> None:
    now = [0.0]
    buffer = AuditBuffer(audit_store)
    refusals = RefusalAudit(buffer, interval=60, per_interval=3, clock=lambda: now[0])
    flood = [refusals.note(throttled("192.0.2.1")) for _ in range(1000)]
    assert flood.count(True) == 1 and buffer.pending == 1
    others = [refusals.note(throttled(f"192.0.2.{n}")) for n in (2, 3, 4, 5)]
    assert others == [True, True, False, False]  # the node's cap: 3 rows per interval
    now[0] = 61.0
    assert refusals.note(throttled("192.0.2.1"))
    assert not refusals.note(throttled("192.0.2.1"))
    assert run(buffer.flush())
    rows = run(audit_store.query(AuditQuery(event="login.throttled", limit=100)))
    assert len(rows) == 4
    assert all(r.outcome == "failure" and r.actor == "admin" for r in rows)
    latest = json.loads(rows[0].detail_json)
    assert rows[0].client == "192.0.2.1"
    assert latest == {"status": 429, "suppressed": 999, "unrecorded": 2}


def test_what_it_remembers_is_bounded() -> None:
    now = [0.0]
    buffer = AuditBuffer(Unwritten(), capacity=100_000)
    refusals = RefusalAudit(
        buffer, interval=60, per_interval=100_000, max_addresses=50, clock=lambda: now[0]
    )
    for n in range(10_000):
        refusals.note(throttled(f"2001:db8::{n:x}"))
    assert len(refusals._seen) <= 50
    assert buffer.pending == 10_000


class Unwritten:
    """Never written to: the test above only offers events."""

    async def append(self, event: object) -> None:
        raise AssertionError("not written in this test")

    async def append_many(self, events: object) -> None:
        raise AssertionError("not written in this test")

    async def query(self, query: object) -> list[object]:
        return []
