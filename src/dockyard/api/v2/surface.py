"""The ``/v2`` surface: match the Distribution API route, authenticate, call its handler.

Mounted in the HTTP shell (``api/shell.py``), which owns the request id, the error envelope
and the access log; this module only adds what is particular to ``/v2``.
"""

from __future__ import annotations

from dockyard.api.authn import Authenticator, NoAuthentication
from dockyard.api.context import Context
from dockyard.api.v2.mirror_route import apply_namespace
from dockyard.api.v2.router import match
from dockyard.core.errors import ErrorCode, RegistryError


class RegistrySurface:
    def __init__(self, authenticator: Authenticator) -> None:
        self.authenticator = authenticator
        # without authentication every caller stays the anonymous principal the context
        # starts with: no call per request
        self._anonymous = isinstance(authenticator, NoAuthentication)

    async def __call__(self, ctx: Context) -> None:
        found = match(ctx.request.path)
        if found is not None:  # ?ns=docker.io: the repository of that registry's cache
            await apply_namespace(ctx, found[1])
        if not self._anonymous:
            ctx.principal = await self.authenticator.authenticate(ctx.request, found)
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
