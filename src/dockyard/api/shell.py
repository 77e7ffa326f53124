"""The one HTTP shell every surface is mounted in.

A *surface* is an async callable taking the request's :class:`Context` (``/v2``, ``/token``,
``/api/v1``, ``/health``, the web UI at ``/`` and ``/ui``, the debug listener's routes). The
shell owns what they all share, once:

- the client address behind trusted proxies (``api/forwarded.py``) and the configured
  response headers (``http.headers``);
- the mount table: the first :class:`Mount` whose path prefix matches serves the request,
  anything else goes to the fallback surface (404 in the OCI envelope);
- the request id (a client's ``X-Request-Id`` when it is a sane token, else our own);
- the error boundary: a :class:`RegistryError` becomes the OCI error envelope; a client that
  went away is a 499 in the log; storage that cannot be reached is a 503; anything else is
  logged with its traceback and answered 500 with the request id only, never a traceback.
  Nothing is answered twice: a failure after the response started is only logged;
- the access log line and the request metrics.

Surfaces authenticate with the :class:`~dockyard.api.authn.Authenticator` bootstrap chose for
them. On the ``/v2`` hot path the shell costs one prefix test and one call per request (raw
ASGI underneath, no framework).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from dockyard.api.access_log import AccessLog, registry_entry
from dockyard.api.context import Context, UrlPolicy
from dockyard.api.errors import internal_error, render_error, unavailable_error
from dockyard.api.forwarded import TrustedProxies
from dockyard.api.http import ClientDisconnectedError, Message, Receive, Request, Scope, Send
from dockyard.api.request_id import RequestIds
from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.services.registry import Registry
from dockyard.storage.driver import StorageUnavailableError

log = logging.getLogger("dockyard.api")
Surface = Callable[[Context], Coroutine[Any, Any, None]]
Observer = Callable[[Context, float], None]
DRAIN_LIMIT = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Mount:
    """``surface`` serves ``prefix`` and every path below it (only ``prefix`` when exact)."""

    prefix: str
    surface: Surface
    exact: bool = False


async def not_found(ctx: Context) -> None:
    """The fallback surface: no mount serves this path."""
    raise RegistryError(ErrorCode.UNSUPPORTED, "not found", status=404)


@dataclass(frozen=True, slots=True)
class ShellOptions:
    urls: UrlPolicy
    body_timeout: float = 0.0  # seconds a request body may send nothing; 0: no limit
    access_log: AccessLog | None = None
    observe: Observer | None = None  # request metrics
    proxies: TrustedProxies | None = None  # whose X-Forwarded-For is believed
    extra_headers: tuple[tuple[bytes, bytes], ...] = ()  # http.headers: on every response


class HttpShell:
    """An ASGI ``http`` handler over one mount table (lifespan is the application's)."""

    def __init__(
        self,
        registry: Registry,
        mounts: Sequence[Mount],
        options: ShellOptions,
        *,
        request_ids: RequestIds | None = None,
        fallback: Surface = not_found,
    ) -> None:
        self.registry = registry
        self.mounts = tuple(mounts)
        self.options = options
        self.request_ids = request_ids or RequestIds()
        self.fallback = fallback
        # (exact path, prefix of the paths below it or None, surface): tested inline per request
        self._table = tuple(
            (m.prefix, None if m.exact else m.prefix + "/", m.surface) for m in self.mounts
        )

    def surface_for(self, path: str) -> Surface:
        for prefix, below, surface in self._table:
            if path == prefix or (below is not None and path.startswith(below)):
                return surface
        return self.fallback

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        options = self.options
        if options.proxies:
            scope = options.proxies.rewrite(scope)
        if options.extra_headers:
            send = _with_headers(send, options.extra_headers)
        request = Request(scope, receive, body_timeout=options.body_timeout)
        request_id = self.request_ids.for_request(request.header(b"x-request-id"))
        ctx = Context(request, send, self.registry, options.urls, request_id)
        try:
            await self.surface_for(request.path)(ctx)
        except RegistryError as error:
            await fail(ctx, error)
        except ClientDisconnectedError:
            ctx.status = 499
        except StorageUnavailableError as exc:
            log.warning(
                "storage unavailable: %s", exc, extra={"fields": {"request_id": request_id}}
            )
            await fail(ctx, unavailable_error(request_id))
        except Exception:
            log.exception("unhandled error", extra={"fields": {"request_id": request_id}})
            await fail(ctx, internal_error(request_id))
        finally:
            request.close()
        elapsed = time.perf_counter() - started
        if options.observe is not None:
            options.observe(ctx, elapsed)
        if options.access_log is not None:
            options.access_log.record(registry_entry(ctx, elapsed))


def _with_headers(send: Send, extra: tuple[tuple[bytes, bytes], ...]) -> Send:
    """``send`` adding ``extra`` to the response's headers."""

    async def sender(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message["headers"], *extra]
        await send(message)

    return sender


async def fail(ctx: Context, error: RegistryError) -> None:
    """Answer ``error`` in the OCI envelope, unless a response has already started."""
    if ctx.status:
        log.warning("error after response started: %s", error.message)
        return
    if not await _drain_quietly(ctx):
        error.headers["Connection"] = "close"
    await render_error(
        ctx.send, error, head=ctx.request.method == "HEAD", request_id=ctx.request_id
    )


async def _drain_quietly(ctx: Context) -> bool:
    """Consume a small unread request body before an error answer (see Request.drain)."""
    try:
        return await ctx.request.drain(DRAIN_LIMIT)
    except RegistryError:
        return False
