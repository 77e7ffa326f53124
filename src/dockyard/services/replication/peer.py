"""The peer registry over HTTP: the upstream client (services/upstream/client.py), able to push.

:class:`PeerClient` adds to :class:`UpstreamClient` what replication needs besides pulls:
scopes with ``push`` (and the catalog's), and requests with a body (blob chunks, manifests).
Every URL still passes the outbound guard, challenges are answered the same way (Basic, or a
token from the realm), the breaker still counts failures. A body that is a stream cannot be
sent twice: callers make a cheap request of the same scope first (the upload's ``POST``), so
the token is at hand when the stream goes.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Mapping
from urllib.parse import urljoin

import httpx

from dockyard.services.upstream.auth import pull_scope
from dockyard.services.upstream.client import (
    UpstreamClient,
    UpstreamUnavailableError,
    _reason,
)

CATALOG_SCOPE = "registry:catalog:*"
Body = bytes | AsyncIterable[bytes] | None


def push_scope(repository: str) -> str:
    return f"repository:{repository}:pull,push"


def delete_scope(repository: str) -> str:
    return f"repository:{repository}:delete"


class PeerClient(UpstreamClient):
    def url(self, path_or_url: str) -> str:
        """A ``/v2/...`` path (or a Location the peer gave) as an absolute URL."""
        return urljoin(self.config.url + "/", path_or_url)

    async def call(
        self,
        method: str,
        path: str,
        scope: str,
        *,
        headers: Mapping[str, str] | None = None,
        content: Body = None,
        ok: tuple[int, ...] = (200,),
    ) -> httpx.Response:
        """Send ``method path`` with ``scope``'s credentials; the response, body unread,
        when its status is in ``ok`` or is 404/400/409-ish (the caller decides); raises
        UpstreamError for 429, 5xx, refused credentials, the guard and network failures."""
        self._refuse_while_open()
        call = self._call(method, self.url(path), scope, dict(headers or {}), content)
        return await self._counted(call, ok=ok)

    async def _call(
        self, method: str, url: str, scope: str, headers: dict[str, str], content: Body
    ) -> httpx.Response:
        response = await self._once(method, url, scope, headers, content)
        if response.status_code == 401 and not isinstance(content, AsyncIterable):
            await response.aclose()
            if await self._answer(response, scope):
                response = await self._once(method, url, scope, headers, content)
        if response.status_code in (401, 403, 429) or response.status_code >= 500:
            await response.aclose()
        return response

    async def _once(
        self, method: str, url: str, scope: str, headers: dict[str, str], content: Body
    ) -> httpx.Response:
        if content is None:  # redirects followed through the guard, retries on failures
            return await self._send(method, url, headers, scope)
        await self._guard(url)
        sent = {**headers, **self._auth_header(scope)}
        request = self.http.build_request(method, url, headers=sent, content=content)
        try:
            return await self.http.send(request, stream=True)
        except httpx.TransportError as exc:
            raise UpstreamUnavailableError(f"{self.config.name}: {_reason(exc)}") from None


__all__ = ["CATALOG_SCOPE", "PeerClient", "delete_scope", "pull_scope", "push_scope"]
