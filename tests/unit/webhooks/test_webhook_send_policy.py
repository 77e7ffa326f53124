"""The ``dockyard.webhooks`` outbound policy applied by the delivery engine at send time, and
the request pinned to the address the guard approved (over https too, with the name in SNI and
the certificate check): a webhook's host name resolves (by a
resolver the test drives) to an allowed loopback address when it is saved and to a denied one
when the event is sent; the denied receiver gets no connection at all, and once the name
resolves back the delivery reaches the allowed receiver with the name in ``Host``. The name is
under ``.test`` (RFC 2606), which no real resolver answers: a second lookup would fail."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

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


def _certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A CA, and a server certificate signed by it for ``NAME`` only (no address in it)."""
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)

    def made(subject: str, issuer: str, public: Any, signer: Any, ca: bool) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(public).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )  # fmt: skip
        if not ca:
            names = x509.SubjectAlternativeName([x509.DNSName(NAME)])
            builder = builder.add_extension(names, critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca = made("webhook test CA", "webhook test CA", ca_key.public_key(), ca_key, True)
    server = made(NAME, "webhook test CA", key.public_key(), ca_key, False)
    paths = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                          serialization.NoEncryption())
    )  # fmt: skip
    return paths


@contextmanager
def tls_receiver(cert: Path, key: Path) -> Iterator[tuple[int, list[str]]]:
    """An https receiver on 127.0.0.1 that records the SNI name of every handshake."""
    names: list[str] = []
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda sock, name, ctx: names.append(str(name)) and None

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length") or 0))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1]), names
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_https_goes_to_the_approved_address_with_the_name_for_tls(run: Run, tmp_path: Path) -> None:
    """The certificate names only the host name: verification passes only because the
    engine connects to the address the guard approved while telling TLS the name (SNI)."""
    ca, cert, key = _certificates(tmp_path)
    resolver = SwitchingResolver(ALLOWED)
    database = SqliteDatabase(str(tmp_path / "metadata.db"))
    hooks = webhook_service(database, OutboundPolicy(resolver=resolver))
    store = SqlDeliveryStore(database, snapshot_bound=False)
    trusting = httpx.AsyncHTTPTransport(verify=ssl.create_default_context(cafile=str(ca)))
    engine = DeliveryEngine(store, [hooks.source], OutboundPolicy(), transport=trusting)
    with tls_receiver(cert, key) as (port, names):

        async def main() -> None:
            await hooks.projects.create(ROOT, "team")
            url = f"https://{NAME}:{port}/hook"
            spec = WebhookSpec("tls", url, ("manifest.pushed",), "cloudevents")
            await hooks.create(ROOT, "team", spec)
            metadata = SqlMetadata(database)
            await push_blobs(metadata, "team/app")
            await metadata.put_manifest(
                "team/app", manifest("one"), origin=EventOrigin(actor="a", request_id="r")
            )
            await engine.run_once()
            await engine.aclose()
            (delivery,) = await DeliveryHistory(store).history()
            assert delivery.state is DeliveryState.DELIVERED, delivery.last_error
            assert delivery.last_status == 204

        try:
            run(main())
        finally:
            database.close()
    assert names and set(names) == {NAME}
