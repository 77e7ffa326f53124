"""One request to a webhook, sent now: the "send a test event" action.

The URL is checked by the outbound guard first (DNS can change after a webhook was saved),
and the request goes to the address the guard approved, not to a second lookup of the name
(which a rebinding DNS server could answer differently): the URL's host is kept in ``Host``
and, for https, as the TLS server name (SNI and certificate check). Redirects are not
followed (a 3xx is the answer, as Standard Webhooks recommends); the whole request is bounded
by ``timeout``. The answer is the receiver's status code or why there was none; the
receiver's body is never returned (it could be an internal page the URL pointed at).
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from dockyard.core.delivery import OutboundRequest
from dockyard.services.outbound.guard import OutboundPolicy, OutboundRefusedError, check_url
from dockyard.services.outbound.pinning import PinnedTarget, pinned

__all__ = ["PinnedTarget", "SendOutcome", "pinned", "send_now"]


@dataclass(frozen=True, slots=True)
class SendOutcome:
    status_code: int | None  # None: no answer (refused, unreachable, timed out)
    error: str = ""

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


async def send_now(request: OutboundRequest, policy: OutboundPolicy, timeout: float) -> SendOutcome:
    """POST ``request`` once (to each approved address in turn while the connection is
    refused); never raises for what the receiver or the network does."""
    try:
        addresses = await check_url(request.url, policy)
    except OutboundRefusedError as exc:
        return SendOutcome(None, f"refused: {exc}")
    failure = SendOutcome(None, "no address to connect to")
    for address in addresses:  # the next one only when this one refuses the connection
        try:
            return await _post(request, pinned(request.url, address), timeout)
        except httpx.ConnectError as exc:
            failure = SendOutcome(None, f"ConnectError: {exc}"[:300])
        except httpx.TimeoutException:
            return SendOutcome(None, f"no answer within {timeout:g}s")
        except httpx.HTTPError as exc:
            return SendOutcome(None, f"{type(exc).__name__}: {exc}"[:300])
    return failure


async def _post(request: OutboundRequest, target: PinnedTarget, timeout: float) -> SendOutcome:
    headers = [("host", target.host_header), *request.headers]
    async with httpx.AsyncClient(
        timeout=timeout, follow_redirects=False, trust_env=False
    ) as client:
        answer = await client.post(
            target.url, content=request.body, headers=headers, extensions=target.extensions
        )
    return SendOutcome(answer.status_code, "" if answer.is_success else answer.reason_phrase)
