"""The outbound HTTP client for upstream registries (httpx).

Every URL is checked by the outbound guard right before connecting: the upstream itself, the
token realm a challenge names, and every redirect target (blob GETs are often redirected to
object storage). Redirects are followed by hand for that reason, and the ``Authorization``
header is never carried to another origin. A 401 challenge is answered once: with the
configured credentials for ``Basic``, or with a token fetched from the realm for ``Bearer``
(kept per scope until it expires). Connection failures are retried a few times; what still
fails becomes an :class:`UpstreamError` the proxy maps to a registry error, and counts for
the circuit breaker (breaker.py): while it is open, requests fail at once. The credentials
never leave this module: nothing of the upstream's auth reaches a downstream client.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import math
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx
import msgspec

from dockyard.services.outbound.guard import OutboundPolicy, OutboundRefusedError, check_url
from dockyard.services.upstream.auth import Challenge, TokenCache, parse_challenge, pull_scope
from dockyard.services.upstream.breaker import CircuitBreaker
from dockyard.services.upstream.helper import HelperCredentials, HelperError

RETRY_DELAYS = (0.2, 0.5)  # after a failed connection; then the upstream counts as down
MAX_REDIRECTS = 5
MAX_ANSWER = 4 * 1024 * 1024  # a manifest's limit (DESIGN.md); tag lists and indexes are smaller
REDIRECTS = frozenset({301, 302, 303, 307, 308})
log = logging.getLogger("dockyard.upstream")
# httpcore reads a response 64 KiB at a time; a blob streamed from an upstream spends most of
# its CPU on those reads (h11 events, anyio calls). Asking for up to 1 MiB lets each read take
# what the socket holds (asyncio hands over at most 256 KiB): a few times fewer reads per
# blob. Process-wide (httpcore has no per-client setting); harmless to other httpx users.
httpcore.AsyncHTTP11Connection.READ_NUM_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class UpstreamConfig:
    url: str  # base URL, e.g. https://registry-1.docker.io
    policy: OutboundPolicy
    username: str = ""
    password: str = ""
    timeout: float = 30.0
    breaker_failures: int = 3  # in a row, to open the circuit (breaker.py)
    breaker_cooldown: float = 10.0  # seconds it then stays open
    helper: HelperCredentials | None = None  # proxy.exec: credentials instead of the pair

    @property
    def name(self) -> str:
        """The label metrics and logs use: host[:port]."""
        return urlsplit(self.url).netloc


class UpstreamError(Exception):
    """The upstream could not give an answer the proxy can use."""


class UpstreamUnavailableError(UpstreamError):
    """Unreachable, timing out, or answering 5xx."""


class UpstreamThrottledError(UpstreamError):
    """429 Too Many Requests; ``retry_after`` is the upstream's Retry-After (seconds) or ""."""

    def __init__(self, retry_after: str) -> None:
        super().__init__("the upstream registry is rate limiting this registry")
        self.retry_after = retry_after


class UpstreamDeniedError(UpstreamError):
    """401/403 after answering the challenge: the configured credentials are not enough."""


class UpstreamBlockedError(UpstreamError):
    """The outbound guard refused a URL (upstream, token realm or redirect target)."""


class TokenAnswer(msgspec.Struct):
    token: str = ""
    access_token: str = ""
    expires_in: float = 0.0


class UpstreamClient:
    def __init__(
        self, config: UpstreamConfig, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.config = config
        self.tokens = TokenCache()
        self.breaker = CircuitBreaker(config.breaker_failures, config.breaker_cooldown)
        self._basic = False  # the upstream answered a Basic challenge: send credentials
        self._username, self._password = config.username, config.password
        self._bearer: Challenge | None = None  # the last bearer challenge (realm, service)
        timeout = httpx.Timeout(config.timeout)
        self.http = httpx.AsyncClient(
            timeout=timeout, follow_redirects=False, trust_env=False, transport=transport
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    async def open(
        self, method: str, path: str, repository: str, headers: Mapping[str, str] | None = None
    ) -> httpx.Response:
        """Send ``method path`` (a ``/v2/...`` path with query) and return the response with
        its body still to be read (``aread``/``aiter_bytes``; the caller closes it). Answers
        one auth challenge; raises UpstreamError for 429, 5xx, refusals and network failures."""
        self._refuse_while_open()
        await self._current_credentials()
        return await self._counted(
            self._authorized(method, path, repository, dict(headers or {})), ok=()
        )

    async def _counted(
        self, answer: Awaitable[httpx.Response], *, ok: tuple[int, ...]
    ) -> httpx.Response:
        """``answer``, told to the breaker: a 429 or unavailability counts against the
        upstream, anything else for it. A status in ``ok`` is never trouble."""
        try:
            response = await answer
            if response.status_code not in ok:
                _raise_for_trouble(response)
        except UpstreamThrottledError as error:
            self.breaker.rate_limited(error.retry_after)
            raise
        except UpstreamUnavailableError:
            self.breaker.failed()
            raise
        self.breaker.succeeded()
        return response

    async def _authorized(
        self, method: str, path: str, repository: str, headers: dict[str, str]
    ) -> httpx.Response:
        """Send, answering one 401 challenge; the response is closed if it is trouble."""
        scope = pull_scope(repository)
        response = await self._send(method, self.config.url + path, headers, scope)
        if response.status_code == 401:
            await response.aclose()  # its headers are all the challenge needs
            if await self._answer(response, scope):
                response = await self._send(method, self.config.url + path, headers, scope)
        if response.status_code in (401, 403, 429) or response.status_code >= 500:
            await response.aclose()
        return response

    def _refuse_while_open(self) -> None:
        """Fail at once while the circuit breaker is open (breaker.py)."""
        remaining = self.breaker.remaining()
        if remaining <= 0:
            return
        if self.breaker.throttled:
            raise UpstreamThrottledError(str(math.ceil(remaining)))
        raise UpstreamUnavailableError("the upstream failed repeatedly; retrying later")

    async def fetch(
        self,
        method: str,
        path: str,
        repository: str,
        headers: Mapping[str, str] | None = None,
        *,
        limit: int = MAX_ANSWER,
    ) -> httpx.Response:
        """``open`` with the body read (manifests, tag lists: small answers); an answer
        larger than ``limit`` is refused (UpstreamUnavailableError) without reading it all."""
        response = await self.open(method, path, repository, headers)
        try:
            body = await _read_within(response, limit)
        except httpx.HTTPError as exc:
            raise UpstreamUnavailableError(f"reading the answer failed: {exc}") from None
        finally:
            await response.aclose()
        return httpx.Response(
            response.status_code, headers=response.headers, content=body, request=response.request
        )

    async def _current_credentials(self) -> None:
        """The credential helper's answer (proxy.exec), when there is one; tokens fetched
        with older credentials are dropped when they change."""
        if self.config.helper is None:
            return
        try:
            pair = await self.config.helper.current()
        except HelperError as exc:
            log.warning("%s", exc)
            raise UpstreamUnavailableError(str(exc)) from None
        if pair != (self._username, self._password):
            self._username, self._password = pair
            self.tokens = TokenCache()

    def _auth_header(self, scope: str) -> dict[str, str]:
        token = self.tokens.get(scope)
        if token is not None:
            return {"Authorization": f"Bearer {token}"}
        if self._basic and self._username:
            pair = f"{self._username}:{self._password}".encode()
            return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
        return {}

    async def _send(
        self, method: str, url: str, headers: dict[str, str], scope: str
    ) -> httpx.Response:
        """Send with retries on connection failures, following redirects through the guard."""
        origin = _origin(url)
        auth = self._auth_header(scope)
        for hop in range(MAX_REDIRECTS + 1):
            sent = {**headers, **auth} if _origin(url) == origin else headers
            response = await self._send_once(method, url, sent)
            location = response.headers.get("location")
            if response.status_code not in REDIRECTS or not location or hop == MAX_REDIRECTS:
                return response
            await response.aclose()
            url = urljoin(url, location)
            method = "GET" if response.status_code == 303 else method
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send_once(self, method: str, url: str, headers: dict[str, str]) -> httpx.Response:
        await self._guard(url)
        for delay in (*RETRY_DELAYS, None):
            request = self.http.build_request(method, url, headers=headers)
            try:
                return await self.http.send(request, stream=True)
            except httpx.TransportError as exc:
                if delay is None:
                    raise UpstreamUnavailableError(f"{_origin(url)}: {_reason(exc)}") from None
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _guard(self, url: str) -> None:
        try:
            await check_url(url, self.config.policy)
        except OutboundRefusedError as exc:
            log.warning("outbound guard refused %s: %s", _origin(url), exc)
            raise UpstreamBlockedError(str(exc)) from None

    async def _answer(self, response: httpx.Response, scope: str) -> bool:
        """Answer a 401 challenge; True when the request is worth sending again."""
        challenge = parse_challenge(response.headers.get("www-authenticate", ""))
        if challenge is None:
            return False
        if challenge.scheme == "basic":
            if self._basic or not self._username:
                return False
            self._basic = True
            return True
        if challenge.scheme != "bearer" or not challenge.realm:
            return False
        self.tokens.forget(scope)
        token, expires_in = await self._token(challenge, challenge.params.get("scope") or scope)
        self.tokens.put(scope, token, expires_in)
        return True

    async def _token(self, challenge: Challenge, scope: str) -> tuple[str, float]:
        """A token from the challenge's realm (guarded like any URL) for ``scope``."""
        params = {"scope": scope}
        if challenge.params.get("service"):
            params["service"] = challenge.params["service"]
        url = str(httpx.URL(challenge.realm).copy_merge_params(params))
        headers: dict[str, str] = {}
        if self._username:
            pair = f"{self._username}:{self._password}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        response = await self._send_once("GET", url, headers)
        try:
            body = await response.aread()
        finally:
            await response.aclose()
        _raise_for_trouble(response)
        if response.status_code != 200:
            raise UpstreamDeniedError(f"token service answered {response.status_code}")
        try:
            answer = msgspec.json.decode(body, type=TokenAnswer)
        except msgspec.DecodeError:
            raise UpstreamUnavailableError("the token service sent no token") from None
        token = answer.token or answer.access_token
        if not token:
            raise UpstreamUnavailableError("the token service sent no token")
        return token, answer.expires_in


async def _read_within(response: httpx.Response, limit: int) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise UpstreamUnavailableError(f"the upstream's answer is larger than {limit} bytes")
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > limit:
            raise UpstreamUnavailableError(f"the upstream's answer is larger than {limit} bytes")
    return bytes(body)


def _raise_for_trouble(response: httpx.Response) -> None:
    status = response.status_code
    if status == 429:
        raise UpstreamThrottledError(response.headers.get("retry-after", "").strip())
    if status >= 500:
        raise UpstreamUnavailableError(f"the upstream answered {status}")
    if status in (401, 403):
        raise UpstreamDeniedError(f"the upstream answered {status}")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _reason(exc: httpx.TransportError) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
