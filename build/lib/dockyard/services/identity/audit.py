"""The audit log: every change and every login, success or failure (who, what, when, from
where, outcome), the registry's pushes, pulls and deletes (made from the domain events by
``event_audit``) and refused actions (``denials``); queried by system administrators and
exported as JSON lines."""

from __future__ import annotations

import datetime
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

from dockyard.auth.policy import AccessPolicy
from dockyard.auth.principal import Principal
from dockyard.persistence.identity_records import AuditEvent, AuditQuery
from dockyard.persistence.stores import AuditStore
from dockyard.services.identity.common import Page, bad_request, clamp, page_of, to_json

SUCCESS, FAILURE = "success", "failure"
EXPORT_BATCH = 1000


def parse_time(text: str | None) -> float | None:
    """A filter bound: RFC 3339 (``2026-01-01T00:00:00Z``; no zone is UTC) or epoch seconds."""
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise bad_request(f"invalid time {text[:40]!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()


def export_line(event: AuditEvent) -> str:
    """One event of an export (``dockyard audit export``, ``GET /api/v1/audit/export``)."""
    moment = datetime.datetime.fromtimestamp(event.created_at, datetime.UTC)
    record = {
        "id": event.id,
        "time": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "actor": event.actor,
        "actor_kind": event.actor_kind,
        "event": event.event,
        "target": event.target,
        "client": event.client,
        "outcome": event.outcome,
        "detail": json.loads(event.detail_json or "{}"),
    }
    return json.dumps(record, separators=(",", ":"))


def actor_kind(principal: Principal) -> str:
    if principal.identity is not None:
        return principal.identity.kind
    return "user" if principal.authenticated else "anonymous"


class AuditLog:
    def __init__(
        self, store: AuditStore, policy: AccessPolicy, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.policy = policy
        self.clock = clock

    async def record(
        self,
        actor: Principal,
        event: str,
        target: str = "",
        *,
        outcome: str = SUCCESS,
        detail: dict[str, Any] | None = None,
    ) -> None:
        via = actor.identity.via if actor.identity is not None else ""
        details = {**(detail or {}), **({"via": via} if via else {})}
        await self.store.append(
            AuditEvent(
                actor=actor.name,
                actor_kind=actor_kind(actor),
                event=event,
                outcome=outcome,
                target=target,
                client=actor.client,
                detail_json=to_json(details),
                created_at=self.clock(),
            )
        )

    async def login(
        self, name: str, client: str, *, ok: bool, kind: str = "user", detail: dict[str, Any]
    ) -> None:
        await self.store.append(
            AuditEvent(
                actor=name,
                actor_kind=kind,
                event="login",
                outcome=SUCCESS if ok else FAILURE,
                client=client,
                detail_json=to_json(detail),
                created_at=self.clock(),
            )
        )

    async def query(
        self, principal: Principal, query: AuditQuery, cursor: str = ""
    ) -> Page[AuditEvent]:
        """Newest first; system administrators only."""
        self.policy.require_admin(principal)
        limit = clamp(query.limit)
        before = int(cursor) if cursor.isdigit() else None
        rows = await self.store.query(replace(query, before_id=before, limit=limit + 1))
        return page_of(rows, limit, lambda event: str(event.id))

    async def export(self, principal: Principal, query: AuditQuery) -> AsyncIterator[AuditEvent]:
        """Every matching event, oldest first, in batches."""
        self.policy.require_admin(principal)
        after = 0
        while True:
            batch = await self.store.query(
                replace(query, after_id=after, before_id=None, limit=EXPORT_BATCH)
            )
            for event in batch:
                yield event
            if len(batch) < EXPORT_BATCH:
                return
            after = batch[-1].id
