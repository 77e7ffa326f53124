"""Endpoints: the audit log, a page at a time (newest first) or exported whole as JSON lines
(oldest first, streamed as it is read), for system administrators."""

from __future__ import annotations

from collections.abc import AsyncIterator

from dockyard.api.mgmt.paging import PAGING_QUERY, paged
from dockyard.api.mgmt.router import Call, Endpoint, Reply
from dockyard.api.mgmt.schemas import AuditEntry, Items
from dockyard.services.identity.audit import export_line, parse_time
from dockyard.services.identity.records import AuditEvent, AuditQuery
from dockyard.services.identity.wiring import IdentityServices

JSON_LINES = "application/x-ndjson"
CHUNK_BYTES = 64 * 1024
FILTERS = (
    ("actor", "string", "who (a user or robot name)"),
    ("event", "string", 'what: "login", "user.create"..., or a prefix ending in "."'),
    ("target", "string", 'on what: "user:alice", "project:team-a", ...'),
    ("outcome", "string", "success or failure"),
    ("since", "string", "from this time (RFC 3339, or seconds since the epoch)"),
    ("until", "string", "before this time"),
)


def audit_query(call: Call) -> AuditQuery:
    return AuditQuery(
        actor=call.query("actor"),
        event=call.query("event"),
        target=call.query("target"),
        outcome=call.query("outcome"),
        since=parse_time(call.query("since")),
        until=parse_time(call.query("until")),
        limit=call.int_query("limit") or 100,
    )


async def _lines(head: list[AuditEvent], rest: AsyncIterator[AuditEvent]) -> AsyncIterator[bytes]:
    """The events as JSON lines, in chunks of about ``CHUNK_BYTES``."""
    chunk = [export_line(event) for event in head]
    size = sum(len(line) + 1 for line in chunk)
    async for event in rest:
        line = export_line(event)
        chunk.append(line)
        size += len(line) + 1
        if size >= CHUNK_BYTES:
            yield ("\n".join(chunk) + "\n").encode()
            chunk, size = [], 0
    if chunk:
        yield ("\n".join(chunk) + "\n").encode()


class Handlers:
    def __init__(self, services: IdentityServices) -> None:
        self.audit = services.audit

    async def list_audit(self, call: Call) -> Reply:
        page = await self.audit.query(call.principal, audit_query(call), call.query("cursor"))
        return paged(call, page, AuditEntry.of)

    async def export(self, call: Call) -> Reply:
        """Refusals and bad filters are answered before the first byte: the first event is
        read (and the caller checked) here, the rest while the body is sent."""
        events = self.audit.export(call.principal, audit_query(call))
        first = await anext(events, None)
        headers = (
            ("Content-Type", JSON_LINES),
            ("Content-Disposition", 'attachment; filename="audit.jsonl"'),
        )
        head = [] if first is None else [first]
        return Reply(200, headers=headers, stream=_lines(head, events))

    def endpoints(self) -> list[Endpoint]:
        return [
            Endpoint(
                "GET", "/audit", self.list_audit, "The audit log, newest first (administrators)",
                "audit", response=Items[AuditEntry], query=(*PAGING_QUERY, *FILTERS),
            ),
            Endpoint(
                "GET", "/audit/export", self.export,
                "Every matching event, oldest first, as JSON lines (administrators)",
                "audit", response=AuditEntry, query=FILTERS, media_type=JSON_LINES,
            ),
        ]  # fmt: skip


def endpoints(services: IdentityServices) -> list[Endpoint]:
    return Handlers(services).endpoints()
