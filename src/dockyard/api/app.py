"""The ASGI application: the mount table of the HTTP shell, health, lifespan, observability.

Every surface (``/v2``, ``/token``, ``/api/v1``, ``/health``, the web UI at ``/`` and
``/ui``; the debug listener's ``/metrics`` and ``/debug/health``) is mounted in one
:class:`~dockyard.api.shell.HttpShell` table here, so each gets the same request id, error
envelope and access log (the UI answers its own errors as pages).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import time
from dataclasses import dataclass, field

import msgspec

from dockyard.api.access_log import AccessLog
from dockyard.api.authn import Authenticator, NoAuthentication
from dockyard.api.context import Context, UrlPolicy
from dockyard.api.debug import DebugServer, debug_shell
from dockyard.api.forwarded import TrustedProxies
from dockyard.api.http import Receive, Scope, Send, respond
from dockyard.api.identity_authn import ManagementLogin
from dockyard.api.identity_mount import MGMT_PREFIX, management_api
from dockyard.api.observability import Metrics
from dockyard.api.registry_audit import register_audit_metrics
from dockyard.api.request_id import RequestIds
from dockyard.api.shell import HttpShell, Mount, ShellOptions, Surface
from dockyard.api.token_auth import TokenApi
from dockyard.api.v2.surface import RegistrySurface
from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.services.registry import Registry
from dockyard.ui.app import UiApp, UiOptions

log = logging.getLogger("dockyard.api")
TEXT = (b"content-type", b"text/plain")
JSON = (b"content-type", b"application/json")


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


@dataclass(frozen=True, slots=True)
class Authenticators:
    """Who authenticates each surface, chosen by bootstrap from the configuration."""

    registry: Authenticator = field(default_factory=NoAuthentication)  # /v2
    management: ManagementLogin | None = None  # /api/v1 (None: identity management off)


class RegistryApp:
    """The whole ASGI application."""

    def __init__(
        self,
        registry: Registry,
        options: ApiOptions,
        authenticators: Authenticators | None = None,
        *,
        metrics: Metrics | None = None,
        tokens: TokenApi | None = None,
        access_log: AccessLog | None = None,  # None: log.accesslog.disabled
    ) -> None:
        self.registry = registry
        self.options = options
        self.metrics = metrics or Metrics()
        self.tokens = tokens  # the token endpoint (issuer mode)
        self.access_log = access_log
        self.request_ids = RequestIds()
        authenticators = authenticators or Authenticators()
        # request metrics are read only through the debug listener: without it, not kept
        observe = self.metrics.observe if options.debug_addr is not None else None
        shell_options = ShellOptions(
            urls=options.urls,
            body_timeout=options.body_timeout,
            access_log=access_log,
            observe=observe,
            proxies=TrustedProxies.from_cidrs(options.trusted_proxies) or None,
            extra_headers=options.extra_headers,
        )
        self.ui: UiApp | None = None
        browse, sessions = registry.browse, registry.web_sessions
        if options.ui.enabled and browse is not None and sessions is not None:
            self.ui = UiApp(registry, browse, sessions, options.ui)
        mounts = self.mount_table(authenticators)
        self.shell = HttpShell(registry, mounts, shell_options, request_ids=self.request_ids)
        register_audit_metrics(registry, self.metrics)
        self._stopped = False
        self._stopping = asyncio.Lock()  # a second shutdown waits for the first to finish
        self._debug: DebugServer | None = None
        self.started_at = time.time()

    def mount_table(self, authenticators: Authenticators) -> list[Mount]:
        """Every surface of the main listener, by path (the first match serves)."""
        management: Surface = _identity_off
        found = management_api(self.registry, authenticators.management)
        if found is not None:
            management = found
        mounts = [
            Mount("/v2", RegistrySurface(authenticators.registry)),
            Mount(MGMT_PREFIX, management),
            Mount("/health", self._health, exact=True),
        ]
        if self.ui is not None:  # the web UI (docs/ui.md): its home page is /
            mounts += [Mount("/", self.ui, exact=True), Mount("", self.ui, exact=True),
                       Mount("/ui", self.ui)]  # fmt: skip
        else:
            mounts.append(Mount("/", _root, exact=True))
        if self.tokens is not None and self.tokens.endpoint is not None:
            mounts.insert(1, Mount("/token", self.tokens.handle))
        return mounts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self.shell(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _health(self, ctx: Context) -> None:
        ctx.route = "health"
        await respond(ctx.send, 200, [JSON, _request_id(ctx)], self.health())

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
            shell = debug_shell(
                self.registry, self.render_metrics, self.debug_health,
                metrics_path=self.options.metrics_path, request_ids=self.request_ids,
            )  # fmt: skip
            debug = DebugServer(host, port, shell)
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


async def _root(ctx: Context) -> None:
    """``/``: an empty 200, for load balancers that probe the root."""
    ctx.route = "root"
    await respond(ctx.send, 200, [TEXT, _request_id(ctx)], b"")


def _request_id(ctx: Context) -> tuple[bytes, bytes]:
    return (b"x-request-id", ctx.request_id.encode())


async def _identity_off(ctx: Context) -> None:
    ctx.route = "api"
    raise RegistryError(
        ErrorCode.NOT_FOUND, "identity management is off (dockyard.identity.enabled)"
    )
