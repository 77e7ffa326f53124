"""The ``dockyard.webhooks`` outbound policy applied by the delivery engine at send time, and
the request pinned to the address the guard approved: a webhook's host name resolves (by a
resolver the test drives) to an allowed loopback address when it is saved and to a denied one
when the event is sent; the denied receiver gets no connection at all, and once the name
resolves back the delivery reaches the allowed receiver with the name in ``Host``. The name is
under ``.test`` (RFC 2606), which no real resolver answers: a second lookup would fail."""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dockyard.auth.grants import SYSTEM
from dockyard.auth.policy import AccessPolicy
from dockyard.auth.principal import Principal
from dockyard.core.delivery import DeliveryState
from dockyard.core.events import EventOrigin
from dockyard.persistence.sql import SqlMetadata, SqlOutbox
from dockyard.persistence.sql.accounts import SqlAccountStore
from dockyard.persistence.sql.audit import SqlAuditStore
from dockyard.persistence.sql.deliveries import SqlDeliveryStore
from dockyard.persistence.sql.projects import SqlProjectStore
from dockyard.persistence.sql.robots import SqlRobotStore
from dockyard.persistence.sql.webhooks import SqlWebhookStore
from dockyard.persistence.sqlite import SqliteDatabase
from dockyard.persistence.webhook_records import WebhookSpec
from dockyard.services.events.deliveries import DeliveryHistory
from dockyard.services.events.engine import DeliveryEngine
from dockyard.services.identity.common import IdentityOptions
from dockyard.services.identity.wiring import build_identity
from dockyard.services.outbound.guard import IPAddress, OutboundPolicy
from dockyard.services.webhooks.formats import ProjectVisibility, standard_renderers
from dockyard.services.webhooks.service import WebhookOptions, WebhookService
from dockyard.services.webhooks.subscriptions import WebhookSubscriptionSource
from support.hook_receiver import receiver
from unit.persistence.test_persistence_manifests import manifest, push_blobs

Run = Callable[[Awaitable[Any]], Any]
ROOT = Principal("cli:test", identity=SYSTEM, client="local")
NAME = "hooks.example.test"
ALLOWED = ipaddress.ip_address("127.0.0.1")
DENIED = ipaddress.ip_address("127.0.0.2")


class SwitchingResolver:
    """Answers ``NAME`` with whatever address the test set last; counts the lookups."""

    def __init__(self, address: IPAddress) -> None:
        self.address = address
        self.lookups = 0

    async def __call__(self, host: str, port: int) -> tuple[IPAddress, ...]:
        assert host == NAME
        self.lookups += 1
        return (self.address,)


@contextmanager
def connection_counter(host: str, port: int) -> Iterator[list[int]]:
    """A listener that only counts the connections it accepts (and closes them)."""
    seen = [0]
    listener = socket.create_server((host, port))
    listener.settimeout(0.1)
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            seen[0] += 1
            connection.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def webhook_service(database: SqliteDatabase, outbound: OutboundPolicy) -> WebhookService:
    policy = AccessPolicy(authentication_required=True, identity=True)
    identity = build_identity(
        accounts=SqlAccountStore(database), projects=SqlProjectStore(database),
        robots=SqlRobotStore(database), audit=SqlAuditStore(database),
        outbox=SqlOutbox(database), policy=policy, options=IdentityOptions(password_cost=4),
    )  # fmt: skip
    store = SqlWebhookStore(database)
    visibility = ProjectVisibility()
    source = WebhookSubscriptionSource(
        store, standard_renderers("", visibility), visibility, outbound=outbound, ttl_seconds=0
    )
    options = WebhookOptions(outbound=outbound)
    return WebhookService(store, identity.projects, identity.audit, policy, source, options=options)


def test_a_name_that_rebinds_to_a_denied_address_gets_no_connection(
    run: Run, tmp_path: Path
) -> None:
    resolver = SwitchingResolver(ALLOWED)
    outbound = OutboundPolicy(denied=(ipaddress.ip_network("127.0.0.2/32"),), resolver=resolver)
    database = SqliteDatabase(str(tmp_path / "metadata.db"))
    hooks = webhook_service(database, outbound)
    store = SqlDeliveryStore(database, snapshot_bound=False)
    # the engine's own policy allows everything on loopback: only the webhook's may refuse
    engine = DeliveryEngine(store, [hooks.source], OutboundPolicy())
    history = DeliveryHistory(store)
    with receiver() as got:
        port = int(got.url.rsplit(":", 1)[1])
        with connection_counter(str(DENIED), port) as denied_connections:

            async def refused_then_delivered() -> None:
                await hooks.projects.create(ROOT, "team")
                url = f"http://{NAME}:{port}/hook"
                spec = WebhookSpec("ci", url, ("manifest.pushed",), "cloudevents")
                await hooks.create(ROOT, "team", spec)  # checked: resolves to 127.0.0.1
                metadata = SqlMetadata(database)
                await push_blobs(metadata, "team/app")
                origin = EventOrigin(actor="alice", request_id="r")
                await metadata.put_manifest("team/app", manifest("one"), origin=origin)
                resolver.address = DENIED  # the name now points at a denied receiver
                await engine.run_once()
                (first,) = await history.history()
                assert first.state is DeliveryState.PENDING and first.attempts == 1
                assert first.last_status == 0 and "denied by the operator" in first.last_error
                resolver.address = ALLOWED
                await store.db.execute("UPDATE event_deliveries SET next_attempt_at = 0")
                lookups = resolver.lookups
                await engine.run_once()
                assert resolver.lookups == lookups + 1  # one lookup per attempt, no second
                (second,) = await history.history()
                assert second.state is DeliveryState.DELIVERED and second.attempts == 2
                await engine.aclose()

            try:
                run(refused_then_delivered())
            finally:
                database.close()
            assert denied_connections == [0]
        (delivered,) = got.taken()
    assert delivered.path == "/hook"
    assert delivered.headers["host"] == f"{NAME}:{port}"


def test_the_webhook_policy_refuses_at_send_what_the_engine_policy_would_allow(
    run: Run, tmp_path: Path
) -> None:
    """``denyprivate`` set after the webhook was saved: the next attempt is refused."""
    resolver = SwitchingResolver(ALLOWED)
    database = SqliteDatabase(str(tmp_path / "metadata.db"))
    saving = webhook_service(database, OutboundPolicy(resolver=resolver))
    sending = webhook_service(database, OutboundPolicy(deny_private=True, resolver=resolver))
    store = SqlDeliveryStore(database, snapshot_bound=False)
    engine = DeliveryEngine(store, [sending.source], OutboundPolicy())
    with receiver() as got:
        port = int(got.url.rsplit(":", 1)[1])

        async def main() -> None:
            await saving.projects.create(ROOT, "team")
            spec = WebhookSpec("ci", f"http://{NAME}:{port}/h", ("manifest.pushed",), "harbor")
            await saving.create(ROOT, "team", spec)
            metadata = SqlMetadata(database)
            await push_blobs(metadata, "team/app")
            await metadata.put_manifest(
                "team/app", manifest("one"), origin=EventOrigin(actor="a", request_id="r")
            )
            await engine.run_once()
            await engine.aclose()
            (delivery,) = await DeliveryHistory(store).history()
            assert delivery.state is DeliveryState.PENDING
            assert "a private or reserved address" in delivery.last_error

        try:
            run(main())
        finally:
            database.close()
        assert got.taken() == []
