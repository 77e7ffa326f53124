"""Which pull-through cache serves a request: the whole registry's (``proxy.remoteurl``), the
one of the upstream whose prefix the repository lies under, or none.

The OCI ``ns`` query parameter (``/v2/library/alpine/manifests/latest?ns=docker.io``, sent by
containerd to a mirror of another registry) names the registry the client meant: when an
upstream answers for that host, the repository is taken as that upstream's (its local name is
the upstream's prefix plus the name) and every answer carries ``OCI-Namespace``. An ``ns``
no upstream answers for is ignored: the request is an ordinary one.
"""

from __future__ import annotations

from dockyard.api.context import Context
from dockyard.api.http import Message, Send
from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.services.upstream.mirror import Mirror

NS_MAX = 260


async def mirror_for(ctx: Context, name: str) -> Mirror | None:
    """The cache serving ``name`` (None: stored content only)."""
    router = ctx.registry.mirrors
    if router is not None:
        route = await router.route(name)
        if route is not None:
            return route.mirror
    return ctx.registry.mirror


async def apply_namespace(ctx: Context, params: dict[str, str]) -> None:
    """Rewrite ``params["name"]`` to the local name when ``?ns=`` names an upstream."""
    host = ctx.request.param("ns")
    router = ctx.registry.mirrors
    if not host or router is None or "name" not in params:
        return
    if len(host) > NS_MAX:
        raise RegistryError(ErrorCode.BAD_REQUEST, "ns: not a registry host")
    spec = await router.for_namespace(host)
    if spec is None:
        return
    params["name"] = spec.local_name(params["name"])
    ctx.raw_send = _with_header(ctx.raw_send, (b"oci-namespace", host.encode("latin-1")))


def _with_header(send: Send, header: tuple[bytes, bytes]) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", ()), header]}
        await send(message)

    return sending
