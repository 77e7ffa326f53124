"""From a push to a signed request at a real receiver, without the delivery engine: events
written to the outbox by real manifest PUTs (SQLite), the subscriptions the composition root
builds from the webhooks saved through the service, and each wanted event sent as its
subscription renders and signs it. What the engine will do per event, minus retries."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from standardwebhooks.webhooks import Webhook

from dockyard.auth.grants import SYSTEM
from dockyard.auth.policy import AccessPolicy
from dockyard.auth.principal import Principal
from dockyard.bootstrap_webhooks import build_webhooks
from dockyard.config import load_settings
from dockyard.core.events import EventOrigin
from dockyard.persistence.sql import SqlMetadata, SqlOutbox
from dockyard.persistence.sql.accounts import SqlAccountStore
from dockyard.persistence.sql.audit import SqlAuditStore
from dockyard.persistence.sql.projects import SqlProjectStore
from dockyard.persistence.sql.robots import SqlRobotStore
from dockyard.persistence.sqlite import SqliteDatabase
from dockyard.persistence.webhook_records import WebhookSpec
from dockyard.services.identity.common import IdentityOptions
from dockyard.services.identity.wiring import build_identity
from dockyard.services.webhooks.sender import send_now
from support.hook_receiver import receiver
from unit.persistence.test_persistence_manifests import digest, manifest, push_blobs

Run = Callable[[Awaitable[Any]], Any]
ROOT = Principal("cli:test", identity=SYSTEM, client="local")


def test_pushed_events_reach_the_receiver_filtered_rendered_and_signed(
    run: Run, tmp_path: Path
) -> None:
    database = SqliteDatabase(str(tmp_path / "metadata.db"))
    policy = AccessPolicy(authentication_required=True, identity=True)
    identity = build_identity(
        accounts=SqlAccountStore(database), projects=SqlProjectStore(database),
        robots=SqlRobotStore(database), audit=SqlAuditStore(database),
        outbox=SqlOutbox(database), policy=policy,
        options=IdentityOptions(password_cost=4),
    )  # fmt: skip
    settings = load_settings(None, {"REGISTRY_HTTP_HOST": "https://reg.example"})
    hooks = build_webhooks(settings, database, policy, identity)
    metadata = SqlMetadata(database)
    with receiver() as got:

        async def main() -> str:
            await identity.projects.create(ROOT, "team")
            spec = WebhookSpec("releases", got.url + "/hook", ("manifest.pushed",), "harbor",
                               repositories=("app",), tags=("v*",))  # fmt: skip
            _, secret = await hooks.create(ROOT, "team", spec)
            origin = EventOrigin(actor="alice", request_id="req-1")
            for repository, name, tags in (("team/app", "one", ("latest",)),
                                           ("team/app", "two", ("v1.0", "latest")),
                                           ("team/other", "three", ("v2.0",))):  # fmt: skip
                await push_blobs(metadata, repository)
                await metadata.put_manifest(repository, manifest(name, tags=tags), origin=origin)
            subscriptions = await hooks.source.subscriptions()
            for stored in await SqlOutbox(database).events_after(0, 100):
                for subscription in subscriptions:
                    if subscription.wants(stored.event):
                        now = time.time()
                        request = subscription.request(stored.event, attempt=1, now=now)
                        outcome = await send_now(request, hooks.options.outbound, 10)
                        assert outcome.delivered, outcome
            return secret

        try:
            secret = run(main())
        finally:
            database.close()
        (delivered,) = got.taken()  # only team/app's push tagged v*
    assert delivered.path == "/hook"
    assert delivered.headers["content-type"] == "application/json"
    body = json.loads(delivered.body)
    assert body["type"] == "PUSH_ARTIFACT" and body["operator"] == "alice"
    assert {r["tag"] for r in body["event_data"]["resources"]} == {"v1.0", "latest"}
    assert body["event_data"]["resources"][0]["resource_url"].startswith("reg.example/team/app")
    assert body["event_data"]["resources"][0]["digest"] == digest("two")
    assert delivered.headers["webhook-id"] == body_event_id(run, tmp_path)
    assert Webhook(secret).verify(delivered.body, delivered.headers) == body


def body_event_id(run: Run, tmp_path: Path) -> str:
    """The id of the one event that passed: the second push's."""
    database = SqliteDatabase(str(tmp_path / "metadata.db"))
    try:
        events = run(SqlOutbox(database).events_after(0, 100))
    finally:
        database.close()
    (wanted,) = [e.event for e in events if e.event.target.digest == digest("two")]
    return str(wanted.id)
