"""The ``Warning`` header (RFC 7234, as the OCI distribution spec allows) on pushes to a
project near its quota."""

from __future__ import annotations

from dockyard.api.context import Context
from dockyard.api.http import Headers


async def quota_warning(ctx: Context, repository: str) -> Headers:
    warning = await ctx.registry.lifecycle.quotas.warning(repository)
    return [(b"warning", warning.encode())] if warning else []
