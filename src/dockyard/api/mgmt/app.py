"""The management API as an ASGI callable mounted by ``api/app.py`` under ``/api/v1``.

Authentication: HTTP Basic (password, robot secret, personal access token), or
``Authorization: Bearer dyp_...`` (a personal access token). Without credentials the caller
is anonymous and sees public projects; when an anonymous call is refused the answer is 401
with a ``Bearer`` challenge, never ``Basic``, so a browser never offers to log in here and
never replays a remembered password. Bodies are ``application/json`` (at most 64 KiB), and
cross-origin requests may not change anything (``browsers.py``); every error is the OCI
envelope.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import AsyncIterator

import msgspec

from dockyard import __version__
from dockyard.api.access_log import AccessEntry, AccessLog
from dockyard.api.errors import internal_error, render_error
from dockyard.api.http import (
    ClientDisconnectedError,
    Message,
    Receive,
    Request,
    Scope,
    Send,
    respond,
    send_body,
    send_start,
)
from dockyard.api.identity_authn import IdentityAuthenticator
from dockyard.api.mgmt import (
    accounts,
    audit,
    harbor_scanner,
    lifecycle,
    projects,
    robots,
    supplychain,
    webhooks,
)
from dockyard.api.mgmt import browse as browse_api
from dockyard.api.mgmt import mirrors as mirrors_api
from dockyard.api.mgmt import replication as replication_api
from dockyard.api.mgmt import system as system_api
from dockyard.api.mgmt import trust as trust_api
from dockyard.api.mgmt import vulns as vuln_api
from dockyard.api.mgmt.browsers import check_browser_request
from dockyard.api.mgmt.refusals import record_refusal
from dockyard.api.mgmt.router import PREFIX, Call, Reply, Router
from dockyard.api.request_id import RequestIds
from dockyard.auth.principal import Principal
from dockyard.auth.secrets import parse_token
from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.services.browse.service import BrowseService
from dockyard.services.identity.wiring import IdentityServices
from dockyard.services.lifecycle_admin import LifecycleAdmin
from dockyard.services.replication.service import ReplicationService
from dockyard.services.supplychain.sboms import SupplyChainService
from dockyard.services.system_settings import SystemSettingsService
from dockyard.services.trust.policies import TrustPolicies
from dockyard.services.upstream.admin import MirrorAdmin
from dockyard.services.vulns.harbor import HarborScanner
from dockyard.services.vulns.service import VulnService
from dockyard.services.webhooks.service import WebhookService

log = logging.getLogger("dockyard.api")
BODY_LIMIT = 64 * 1024
JSON = (b"content-type", b"application/json")
NO_STORE = (b"cache-control", b"no-store")


def build_router(
    services: IdentityServices,
    admin: LifecycleAdmin | None = None,
    system: SystemSettingsService | None = None,
    hooks: WebhookService | None = None,
    supply_chain: SupplyChainService | None = None,
    *,
    trust: TrustPolicies | None = None,
    mirror_admin: MirrorAdmin | None = None,
    browse: BrowseService | None = None,
    replication: ReplicationService | None = None,
    vulns: VulnService | None = None,
    scanner: HarborScanner | None = None,
) -> Router:
    return Router(
        [
            *accounts.endpoints(services),
            *projects.endpoints(services),
            *robots.endpoints(services),
            *audit.endpoints(services),
            *(lifecycle.endpoints(admin) if admin is not None else []),
            *system_api.endpoints(system),
            *(webhooks.endpoints(hooks) if hooks is not None else []),
            *supplychain.endpoints(supply_chain),
            *trust_api.endpoints(trust),
            *mirrors_api.endpoints(mirror_admin),
            *browse_api.endpoints(browse),
            *replication_api.endpoints(replication),
            *vuln_api.endpoints(vulns),
            *harbor_scanner.endpoints(scanner),
        ]
    )


class ManagementApi:
    def __init__(
        self,
        services: IdentityServices,
        authenticator: IdentityAuthenticator,
        admin: LifecycleAdmin | None = None,  # bulk deletion and quotas (lifecycle.md)
        system: SystemSettingsService | None = None,  # /system/settings
        hooks: WebhookService | None = None,  # /projects/{project}/webhooks
        *,
        access_log: AccessLog | None = None,
        ids: RequestIds | None = None,
        supply_chain: SupplyChainService | None = None,  # inventories and SBOMs
        trust: TrustPolicies | None = None,  # signature trust policies
        mirror_admin: MirrorAdmin | None = None,  # the cache's upstreams (/mirrors)
        browse: BrowseService | None = None,  # tags with sizes, artifact details (web UI)
        replication: ReplicationService | None = None,  # policies and runs
        vulns: VulnService | None = None,  # vulnerability findings
        scanner: HarborScanner | None = None,  # Harbor's scanner API over ``vulns``
    ) -> None:
        self.services = services
        self.authenticator = authenticator
        self.router = build_router(
            services, admin, system, hooks, supply_chain,
            trust=trust, mirror_admin=mirror_admin, browse=browse, replication=replication,
            vulns=vulns, scanner=scanner,
        )  # fmt: skip
        self._openapi = msgspec.json.encode(self.router.openapi(__version__))
        self.access_log = access_log
        self.ids = ids or RequestIds()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        request = Request(scope, receive)
        request_id = self.ids.for_request(request.headers.get("x-request-id"))
        outcome = _Outcome(send)
        try:
            await self._serve(request, request_id, outcome)
        except ClientDisconnectedError:
            outcome.status = 499
        except Exception:
            log.exception("unhandled error", extra={"fields": {"request_id": request_id}})
            if not outcome.status:
                await self._fail(outcome.send, request_id, internal_error(request_id))
        if self.access_log is not None:
            entry = outcome.entry(request, request_id, time.perf_counter() - started)
            self.access_log.record(entry)

    async def _serve(self, request: Request, request_id: str, outcome: _Outcome) -> None:
        send = outcome.send
        try:
            path = request.path[len(PREFIX) :] or "/"
            if path == "/openapi.json" and request.method in ("GET", "HEAD"):
                await self._send(send, request_id, Reply(200, None), self._openapi)
                return
            endpoint, params = self.router.match(request.method, path)
            check_browser_request(request)  # before logging in: a forged request costs nothing
            outcome.principal = await self._authenticate(request)
            call = Call(request, outcome.principal, params, await _read_body(request))
            reply = await endpoint.handler(call)
            await self._send(send, request_id, reply)
        except RegistryError as error:
            await self._audit_refusal(request, outcome.principal, error)
            challenge = self._no_basic(self._challenge(error, outcome.principal))
            await self._fail(send, request_id, challenge)

    async def _authenticate(self, request: Request) -> Principal:
        header = request.headers.get("authorization", "")
        client = str((request.scope.get("client") or ("",))[0])
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer":
            token = parse_token(value.strip())
            if token is None:
                raise self.authenticator.unauthorized("expected a personal access token")
            owner = await self.services.tokens.owner_of(token[0])
            header = _basic(owner, value.strip())
        principal = await self.authenticator.login(header or None, client)
        if principal is None:
            principal = await self.services.login.anonymous(client)
        return principal

    async def _audit_refusal(
        self, request: Request, principal: Principal | None, error: RegistryError
    ) -> None:
        """A refused change by a logged-in caller is audited before it is answered."""
        if principal is None or not principal.authenticated or request.method == "GET":
            return
        try:
            endpoint, params = self.router.match(request.method, request.path[len(PREFIX) :])
            route = (request.method, endpoint.path)
            await record_refusal(
                self.services.audit, principal, route, params, error,
                name_robot=self.services.robots.name_of,
            )  # fmt: skip
        except Exception:  # a failed audit write must not hide the refusal: logged only
            log.exception("could not audit a refused change")

    def _challenge(self, error: RegistryError, principal: Principal | None) -> RegistryError:
        """A refusal of an anonymous caller asks for credentials instead."""
        if error.code is ErrorCode.DENIED and principal is not None and not principal.authenticated:
            return self.authenticator.unauthorized("authentication required")
        return error

    def _no_basic(self, error: RegistryError) -> RegistryError:
        """A 401 with a Bearer challenge in place of Basic (see the module's docstring)."""
        if error.status != 401:
            return error
        realm = self.authenticator.challenge.partition(" ")[2]
        headers = {**error.headers, "WWW-Authenticate": f"Bearer {realm}".strip()}
        return RegistryError(error.code, error.message, detail=error.detail, status=401,
                             headers=headers)  # fmt: skip

    async def _send(self, send: Send, request_id: str, reply: Reply, raw: bytes = b"") -> None:
        headers = [(b"x-request-id", request_id.encode()), NO_STORE]
        headers += [(k.lower().encode(), v.encode("latin-1")) for k, v in reply.headers]
        if reply.stream is not None:
            await _stream(send, reply.status, headers, reply.stream)
            return
        body = raw if raw else b""
        if reply.body is not None:
            body = msgspec.json.encode(reply.body)
        if body:
            headers.append(JSON)
        await respond(send, reply.status, headers, body)

    async def _fail(self, send: Send, request_id: str, error: RegistryError) -> int:
        await render_error(send, error, head=False, request_id=request_id)
        return error.status


async def _stream(send: Send, status: int, headers: list[tuple[bytes, bytes]],
                  chunks: AsyncIterator[bytes]) -> None:  # fmt: skip
    """A body sent as it is produced. A failure once it has started cannot be answered with
    an error any more: it is logged and the response left unfinished, so the client sees a
    cut-off transfer rather than a short export that looks complete."""
    await send_start(send, status, headers)
    try:
        async for chunk in chunks:
            await send_body(send, chunk, more=True)
    except ClientDisconnectedError:
        raise
    except Exception:
        log.exception("a streamed response failed after it started")
        return
    await send_body(send, b"")


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def _read_body(request: Request) -> bytes:
    if request.method in ("GET", "HEAD", "DELETE"):
        return b""
    declared = request.content_length()
    if declared is not None and declared > BODY_LIMIT:
        raise RegistryError(ErrorCode.BAD_REQUEST, "body too large", status=413)
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > BODY_LIMIT:
            raise RegistryError(ErrorCode.BAD_REQUEST, "body too large", status=413)
        parts.append(chunk)
    return b"".join(parts)


class _Outcome:
    """What a management request sent back (status, bytes) and who asked: its log line."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.status = 0
        self.bytes_sent = 0
        self.principal: Principal | None = None

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        elif message["type"] == "http.response.body":
            self.bytes_sent += len(message.get("body", b""))
        await self._send(message)

    def entry(self, request: Request, request_id: str, seconds: float) -> AccessEntry:
        return AccessEntry(
            request_id,
            request.method,
            "api",
            request.path,
            "",
            self.status or 500,
            request.bytes_received,
            self.bytes_sent,
            round(seconds * 1000, 3),
            self.principal.name if self.principal is not None else "",
            (request.scope.get("client") or ("", 0))[0],
        )
