"""Project webhooks (``webhook_records.py``), on either backend."""

from __future__ import annotations

import json
import time
from typing import Any

from dockyard.core.delivery import RetryPolicy
from dockyard.persistence.sql.identity import flag
from dockyard.persistence.sql.session import Database, Row, Session
from dockyard.persistence.webhook_records import (
    WebhookRecord,
    WebhookSecrets,
    WebhookSpec,
)

_COLUMNS = (
    "w.id, p.name, p.is_public, w.name, w.url, w.event_types, w.payload_format, w.headers, "
    "w.enabled, w.repositories, w.tags, w.timeout_seconds, w.backoff_seconds, "
    "w.max_backoff_seconds, w.max_attempts, w.description, w.secret, w.previous_secret, "
    "w.previous_until, w.created_by, w.created_at, w.updated_at"
)
_SELECT = f"SELECT {_COLUMNS} FROM webhooks w JOIN projects p ON p.id = w.project_id"  # noqa: S608
_SPEC_COLUMNS = (
    "name, url, event_types, payload_format, headers, enabled, repositories, tags, "
    "timeout_seconds, backoff_seconds, max_backoff_seconds, max_attempts, description"
)


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _spec_values(spec: WebhookSpec) -> tuple[object, ...]:
    retry = spec.retry
    return (
        spec.name, spec.url, _json(list(spec.event_types)), spec.payload_format,
        _json([list(pair) for pair in spec.headers]), int(spec.enabled),
        _json(list(spec.repositories)), _json(list(spec.tags)), retry.timeout_seconds,
        retry.backoff_seconds, retry.max_backoff_seconds, retry.max_attempts, spec.description,
    )  # fmt: skip


def _record(row: Row) -> WebhookRecord:
    spec = WebhookSpec(
        name=row[3],
        url=row[4],
        event_types=tuple(json.loads(row[5])),
        payload_format=row[6],
        headers=tuple((str(k), str(v)) for k, v in json.loads(row[7])),
        enabled=flag(row[8]),
        repositories=tuple(json.loads(row[9])),
        tags=tuple(json.loads(row[10])),
        retry=RetryPolicy(float(row[11]), float(row[12]), float(row[13]), int(row[14])),
        description=row[15],
    )
    until = None if row[18] is None else float(row[18])
    secrets = WebhookSecrets(row[16], row[17], until)
    return WebhookRecord(
        int(row[0]), row[1], flag(row[2]), spec, secrets, row[19], float(row[20]), float(row[21])
    )


class SqlWebhookStore:
    def __init__(self, database: Database) -> None:
        self.db = database

    async def create_webhook(
        self, project: str, spec: WebhookSpec, secrets: WebhookSecrets, created_by: str
    ) -> WebhookRecord | str:
        now = time.time()

        async def work(session: Session) -> WebhookRecord | str:
            found = await session.fetchone("SELECT id FROM projects WHERE name = ?", (project,))
            if found is None:
                return "no_project"
            row = await session.fetchone(
                f"INSERT INTO webhooks(project_id, {_SPEC_COLUMNS}, secret, previous_secret, "  # noqa: S608
                "previous_until, created_by, created_at, updated_at) VALUES "
                f"(?, {', '.join('?' * 13)}, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id",
                (found[0], *_spec_values(spec), secrets.current, secrets.previous,
                 secrets.previous_until, created_by, now, now),
            )  # fmt: skip
            if row is None:
                return "exists"
            return await _fetch(session, project, int(row[0])) or "exists"

        return await self.db.transaction(work)

    async def get_webhook(self, project: str, webhook_id: int) -> WebhookRecord | None:
        return await _fetch(self.db, project, webhook_id)

    async def list_webhooks(self, project: str, limit: int) -> list[WebhookRecord]:
        rows = await self.db.fetchall(
            _SELECT + " WHERE p.name = ? ORDER BY w.id LIMIT ?", (project, limit)
        )
        return [_record(r) for r in rows]

    async def count_webhooks(self, project: str) -> int:
        row = await self.db.fetchone(
            "SELECT COUNT(*) FROM webhooks w JOIN projects p ON p.id = w.project_id "
            "WHERE p.name = ?",
            (project,),
        )
        return int(row[0]) if row else 0

    async def update_webhook(
        self, project: str, webhook_id: int, spec: WebhookSpec
    ) -> WebhookRecord | str | None:
        assignments = ", ".join(f"{column.strip()} = ?" for column in _SPEC_COLUMNS.split(","))

        async def work(session: Session) -> WebhookRecord | str | None:
            clash = await session.fetchone(
                "SELECT w.id FROM webhooks w JOIN projects p ON p.id = w.project_id "
                "WHERE p.name = ? AND w.name = ? AND w.id <> ?",
                (project, spec.name, webhook_id),
            )
            if clash is not None:
                return "exists"
            changed = await session.execute(
                f"UPDATE webhooks SET {assignments}, updated_at = ? WHERE id = ? AND "  # noqa: S608
                "project_id = (SELECT id FROM projects WHERE name = ?)",
                (*_spec_values(spec), time.time(), webhook_id, project),
            )
            return await _fetch(session, project, webhook_id) if changed else None

        return await self.db.transaction(work)

    async def set_secrets(
        self, project: str, webhook_id: int, secrets: WebhookSecrets
    ) -> WebhookRecord | None:
        async def work(session: Session) -> WebhookRecord | None:
            changed = await session.execute(
                "UPDATE webhooks SET secret = ?, previous_secret = ?, previous_until = ?, "
                "updated_at = ? WHERE id = ? AND "
                "project_id = (SELECT id FROM projects WHERE name = ?)",
                (secrets.current, secrets.previous, secrets.previous_until, time.time(),
                 webhook_id, project),
            )  # fmt: skip
            return await _fetch(session, project, webhook_id) if changed else None

        return await self.db.transaction(work)

    async def delete_webhook(self, project: str, webhook_id: int) -> bool:
        deleted = await self.db.execute(
            "DELETE FROM webhooks WHERE id = ? AND "
            "project_id = (SELECT id FROM projects WHERE name = ?)",
            (webhook_id, project),
        )
        return deleted > 0

    async def enabled_webhooks(self) -> list[WebhookRecord]:
        rows = await self.db.fetchall(_SELECT + " WHERE w.enabled = 1 ORDER BY w.id")
        return [_record(r) for r in rows]


async def _fetch(session: Session, project: str, webhook_id: int) -> WebhookRecord | None:
    row = await session.fetchone(_SELECT + " WHERE p.name = ? AND w.id = ?", (project, webhook_id))
    return _record(row) if row else None
