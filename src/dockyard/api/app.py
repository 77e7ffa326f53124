"""create_app(): the ASGI application — registry routes, health, lifespan and observability."""

from __future__ import annotations

import asyncio
import errno
import logging
import time
from dataclasses import dataclass, field

import msgspec

from dockyard.api.access_log import AccessLog, registry_entry
from dockyard.api.authn import BasicAuthenticator
from dockyard.api.context import Context, UrlPolicy
from dockyard.api.debug import DebugServer
from dockyard.api.errors import internal_error, render_error, unavailable_error
from dockyard.api.forwarded import TrustedProxies
from dockyard.api.http import (
    ClientDisconnectedError,
    Message,
    Receive,
    Request,
    Scope,
    Send,
    respond,
)
from dockyard.api.identity_mount import MGMT_PREFIX, mount_identity
from dockyard.api.observability import Metrics
from dockyard.api.registry_audit import register_audit_metrics
from dockyard.api.request_id import RequestIds
from dockyard.api.token_auth import TokenApi
from dockyard.api.v2.mirror_route import apply_namespace
from dockyard.api.v2.router import match
from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.services.registry import Registry
from dockyard.storage.driver import StorageUnavailableError
from dockyard.ui.app import UiApp, UiOptions
from dockyard.ui.app import serves as ui_serves

log = logging.getLogger("dockyard.api")


@dataclass(frozen=True, slots=True)
class ApiOptions:
    realm: str = "Registry Realm"
    urls: UrlPolicy = field(default_factory=UrlPolicy)
    debug_addr: tuple[str, int] | None = None
    metrics_path: str = "/metrics"
    extra_headers: tuple[tuple[bytes, bytes], ...] = ()
    trusted_proxies: tuple[str, ...] = ()  # CIDRs whose X-Forwarded-For is believed
    body_timeout: float = 60.0  # dockyard.uploads.bodytimeout: a body silent this long: 408
    run_jobs: bool = True  # dockyard.jobs.runinserve: take queued and scheduled jobs here too
    ui: UiOptions = field(default_factory=UiOptions)  # dockyard.ui: the web UI at / (ui.md)


class RegistryApp:
    """The whole ASGI application."""

    def __init__(
        self,
        registry: Registry,
        options: ApiOptions,
        metrics: Metrics | None = None,
        tokens: TokenApi | None = None,
        access_log: AccessLog | None = None,  # None: log.accesslog.disabled
    ) -> None:
        self.registry = registry
        self.options = options
        self.metrics = metrics or Metrics()
        # request metrics are read only through the debug listener: without it, not kept
        self.observe = self.metrics.observe if options.debug_addr is not None else None
        self.authenticator = BasicAuthenticator(registry.htpasswd, options.realm)
        self.tokens = tokens  # bearer tokens (dockyard.token or auth.token) replace Basic
        self.access_log = access_log
        self.request_ids = RequestIds()
        self.identity_authn, self.mgmt = mount_identity(
            registry, options.realm, access_log, self.request_ids
        )
        register_audit_metrics(registry, self.metrics)
        self._stopped = False
        self._stopping = asyncio.Lock()  # a second shutdown waits for the first to finish
        self._debug: DebugServer | None = None
        self.started_at = time.time()
        self.proxies = TrustedProxies.from_cidrs(options.trusted_proxies)
        self.ui: UiApp | None = None
        browse, sessions = registry.browse, registry.web_sessions
        if options.ui.enabled and browse is not None and sessions is not None:
            self.ui = UiApp(registry, browse, sessions, options.ui, access_log=access_log,
                            ids=self.request_ids)  # fmt: skip

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.proxies:
            scope = self.proxies.rewrite(scope)
        if self.options.extra_headers:
            send = self._with_extra_headers(send)
        path: str = scope["path"]
        if path.startswith("/v2") or (self.tokens is not None and self.tokens.serves(path)):
            await self._registry_request(scope, receive, send)
        elif self.ui is not None and ui_serves(path):
            await self.ui(scope, receive, send)
        elif path in ("/", ""):
            await respond(send, 200, [(b"content-type", b"text/plain")], b"")
        elif path == MGMT_PREFIX or path.startswith(MGMT_PREFIX + "/"):
            await self._management(scope, receive, send)
        elif path == "/health":
            body = self.health()
            await respond(send, 200, [(b"content-type", b"application/json")], body)
        else:
            error = RegistryError(ErrorCode.UNSUPPORTED, "not found", status=404)
            await render_error(send, error, head=scope["method"] == "HEAD", request_id="")

    async def _management(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.mgmt is None:
            error = RegistryError(
                ErrorCode.NOT_FOUND, "identity management is off (dockyard.identity.enabled)"
            )
            await render_error(send, error, head=scope["method"] == "HEAD", request_id="")
            return
        await self.mgmt(scope, receive, send)

    def _with_extra_headers(self, send: Send) -> Send:
        """Add ``http.headers`` from the configuration to every response."""
        extra = list(self.options.extra_headers)

        async def sender(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message["headers"], *extra]
            await send(message)

        return sender

    async def _registry_request(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        request = Request(scope, receive, body_timeout=self.options.body_timeout)
        request_id = self.request_ids.for_request(request.header(b"x-request-id"))
        ctx = Context(request, send, self.registry, self.options.urls, request_id)
        try:
            await self._dispatch(ctx)
        except RegistryError as error:
            await self._fail(ctx, error)
        except ClientDisconnectedError:
            ctx.status = 499
        except StorageUnavailableError as exc:
            fields = {"request_id": ctx.request_id}
            log.warning("storage unavailable: %s", exc, extra={"fields": fields})
            await self._fail(ctx, unavailable_error(ctx.request_id))
        except Exception:
            log.exception("unhandled error", extra={"fields": {"request_id": ctx.request_id}})
            await self._fail(ctx, internal_error(ctx.request_id))
        finally:
            request.close()
        elapsed = time.perf_counter() - started
        if self.observe is not None:
            self.observe(ctx, elapsed)
        if self.access_log is not None:
            self.access_log.record(registry_entry(ctx, elapsed))

    async def _dispatch(self, ctx: Context) -> None:
        if self.tokens is not None and self.tokens.serves(ctx.request.path):
            await self.tokens.handle(ctx)
            return
        found = match(ctx.request.path)
        if found is not None:  # ?ns=docker.io: the repository of that registry's cache
            await apply_namespace(ctx, found[1])
        if self.tokens is not None:
            ctx.principal = await self.tokens.bearer.authenticate(ctx.request, found)
        elif self.identity_authn is not None:
            ctx.principal = await self.identity_authn.authenticate(ctx.request, found)
        elif self.authenticator.enabled:  # else: anonymous, as the context starts
            authorization = ctx.request.headers.get("authorization")
            ctx.principal = await self.authenticator.authenticate(authorization)
        if found is None:
            raise RegistryError(ErrorCode.UNSUPPORTED, "no such endpoint", status=404)
        route, params = found
        ctx.route = route.name
        handler = route.methods.get(ctx.request.method)
        if handler is None:
            raise RegistryError(
                ErrorCode.UNSUPPORTED,
                f"method {ctx.request.method} not allowed here",
                status=405,
                headers={"Allow": ", ".join(route.methods)},
            )
        await handler(ctx, params)

    async def _fail(self, ctx: Context, error: RegistryError) -> None:
        if ctx.status:
            log.warning("error after response started: %s", error.message)
            return
        if not await _drain_quietly(ctx):
            error.headers["Connection"] = "close"
        await render_error(
            ctx.send, error, head=ctx.request.method == "HEAD", request_id=ctx.request_id
        )

    def render_metrics(self) -> bytes:
        self.metrics.sync_rehash_count(self.registry.uploads.rehash_count)
        return self.metrics.render()

    def health(self) -> bytes:
        """``/health`` (liveness): the process answers, whatever its backends do."""
        return msgspec.json.encode(
            {"status": "ok", "uptime_seconds": round(time.time() - self.started_at, 1)}
        )

    def debug_health(self) -> tuple[int, bytes]:
        """``/debug/health``: 503 while a ``health.storagedriver`` check keeps failing."""
        uptime = round(time.time() - self.started_at, 1)
        monitor = self.registry.health
        if monitor is None:
            return 200, msgspec.json.encode({"status": "ok", "uptime_seconds": uptime})
        problems = monitor.problems()
        body = {
            "status": "unhealthy" if problems else "ok",
            "uptime_seconds": uptime,
            "checks": monitor.checks(),
        }
        return (503 if problems else 200), msgspec.json.encode(body)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def startup(self) -> None:
        await self.registry.startup()
        if self.registry.background is not None:  # jobs, schedules, this process's loops
            await self.registry.background.start(queue_work=self.options.run_jobs)
        if self.options.debug_addr is not None:
            host, port = self.options.debug_addr
            debug = DebugServer(
                host, port, self.render_metrics, self.debug_health, self.options.metrics_path
            )
            try:
                await debug.start()
                self._debug = debug
            except OSError as exc:  # dockyard.workers > 1: the first worker has the port
                if exc.errno != errno.EADDRINUSE:
                    raise
                log.warning("http.debug.addr %s:%s in use: no metrics from this worker", host, port)

    async def shutdown(self) -> None:
        async with self._stopping:  # the server's lifespan, or a drain deadline, came first
            if not self._stopped:
                await self._stop()
                self._stopped = True

    async def _stop(self) -> None:
        if self.registry.background is not None:  # buffered audit events and pulls written
            await self.registry.background.stop()
        if self._debug is not None:
            await self._debug.stop()
        await self.registry.shutdown()
        if self.access_log is not None:
            self.access_log.close()  # nothing pending is lost; later lines are written at once


DRAIN_LIMIT = 8 * 1024 * 1024


async def _drain_quietly(ctx: Context) -> bool:
    """Consume a small unread request body before an error answer (see Request.drain)."""
    try:
        return await ctx.request.drain(DRAIN_LIMIT)
    except RegistryError:
        return False
