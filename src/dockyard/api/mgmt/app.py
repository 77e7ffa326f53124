"""The management API: the surface mounted in the HTTP shell (``api/shell.py``) at ``/api/v1``.

Authentication: HTTP Basic (password, robot secret, personal access token), or
``Authorization: Bearer dyp_...`` (a personal access token). Without credentials the caller
is anonymous and sees public projects; when an anonymous call is refused the answer is 401
with a ``Bearer`` challenge, never ``Basic``, so a browser never offers to log in here and
never replays a remembered password. Bodies are ``application/json`` (at most 64 KiB), and
cross-origin requests may not change anything (``browsers.py``); every error is the OCI
envelope.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import msgspec

from dockyard import __version__
from dockyard.api.context import Context
from dockyard.api.http import (
    ClientDisconnectedError,
    Request,
    Send,
    respond,
    send_body,
    send_start,
)
from dockyard.api.identity_authn import ManagementLogin
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
from dockyard.auth.principal import Principal
from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.services.browse.service import BrowseService
from dockyard.services.identity.wiring import IdentityServices
from dockyard.services.lifecycle.admin import LifecycleAdmin
from dockyard.services.replication.service import ReplicationService
from dockyard.services.supplychain.sboms import SupplyChainService
from dockyard.services.system.settings import SystemSettingsService
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
    """The ``/api/v1`` surface of the HTTP shell (``api/shell.py``), which gives every request
    its id, renders errors in the OCI envelope and writes the access log line."""

    def __init__(
        self,
        services: IdentityServices,
        authenticator: ManagementLogin,
        admin: LifecycleAdmin | None = None,  # bulk deletion and quotas (lifecycle.md)
        system: SystemSettingsService | None = None,  # /system/settings
        hooks: WebhookService | None = None,  # /projects/{project}/webhooks
        *,
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

    async def __call__(self, ctx: Context) -> None:
        ctx.route = "api"
        request = ctx.request
        principal: Principal | None = None  # not yet known
        try:
            path = request.path[len(PREFIX) :] or "/"
            if path == "/openapi.json" and request.method in ("GET", "HEAD"):
                await self._send(ctx, Reply(200, None), self._openapi)
                return
            endpoint, params = self.router.match(request.method, path)
            check_browser_request(request)  # before logging in: a forged request costs nothing
            principal = await self.authenticator.authenticate(request, None)
            ctx.principal = principal
            call = Call(request, principal, params, await _read_body(request))
            reply = await endpoint.handler(call)
        except RegistryError as error:
            await self._audit_refusal(request, principal, error)
            raise self._no_basic(self._challenge(error, principal)) from None
        await self._send(ctx, reply)

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

    async def _send(self, ctx: Context, reply: Reply, raw: bytes = b"") -> None:
        headers = [(b"x-request-id", ctx.request_id.encode()), NO_STORE]
        headers += [(k.lower().encode(), v.encode("latin-1")) for k, v in reply.headers]
        if reply.stream is not None:
            await _stream(ctx.send, reply.status, headers, reply.stream)
            return
        body = raw if raw else b""
        if reply.body is not None:
            body = msgspec.json.encode(reply.body)
        if body:
            headers.append(JSON)
        await respond(ctx.send, reply.status, headers, body)


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
