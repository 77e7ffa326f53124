"""What keeps a web page from driving ``/api/v1`` through a browser that is logged in.

A page on another site can make the browser send a ``POST`` with a ``text/plain`` or form body
(no CORS preflight) carrying the credentials the browser remembers for this origin. So a
state-changing request (anything but ``GET``, ``HEAD``, ``OPTIONS``):

- is refused with ``403 DENIED`` when the browser says it comes from another origin:
  ``Sec-Fetch-Site`` other than ``same-origin`` or ``none`` (typed by the user), or an
  ``Origin`` whose host and port are not this server's (``Host``, or the ``X-Forwarded-Host``
  a trusted proxy passed on); ``Origin: null`` (sandboxed pages, some redirects) too;
- must send its body as ``application/json`` (``415`` otherwise): no page can send that
  content type to another origin without a preflight, which this API never grants.

Clients that are not browsers (the CLI, curl, podman, scripts) send neither header and are not
affected. And a ``401`` here never carries the ``Basic`` challenge (see ``ManagementApi``), so
a browser never shows its login dialog for ``/api/v1`` and never remembers a password for it.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from dockyard.api.http import Request
from dockyard.core.errors import ErrorCode, RegistryError

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SAME_SITE_FETCHES = frozenset({"same-origin", "none"})
DEFAULT_PORTS = {"http": 80, "https": 443}
JSON_TYPE = "application/json"
# Harbor's scanner API sends its scan requests as this (a type no HTML form can send, and
# not CORS-safelisted: a browser preflights it, so it is as safe as JSON here)
BODY_TYPES = frozenset({JSON_TYPE, "application/vnd.scanner.adapter.scan.request+json"})


def check_browser_request(request: Request) -> None:
    """Raise 403 for a cross-origin state-changing request, 415 for a body not JSON."""
    if request.method in SAFE_METHODS:
        return
    if not _same_origin(request):
        raise RegistryError(
            ErrorCode.DENIED,
            "cross-origin requests may not change anything",
            detail={"origin": (request.headers.get("origin") or "")[:200]},
        )
    if _has_body(request) and _media_type(request) not in BODY_TYPES:
        raise RegistryError(
            ErrorCode.UNSUPPORTED,
            f"the body must be {JSON_TYPE}",
            detail={"content_type": (request.headers.get("content-type") or "")[:100]},
            status=415,
        )


def is_same_origin(request: Request) -> bool:
    """Whether a browser says the request comes from this server's own pages (a client that
    is not a browser sends neither header and passes)."""
    return _same_origin(request)


def _same_origin(request: Request) -> bool:
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site.strip().lower() not in SAME_SITE_FETCHES:
        return False
    origin = request.headers.get("origin")
    if origin is None:
        return True  # not a browser, or a same-origin GET-like navigation
    authority = _origin_authority(origin)
    return authority is not None and authority in _own_authorities(request)


def _origin_authority(origin: str) -> tuple[str, int] | None:
    """``(host, port)`` of an ``Origin`` header; None for ``null`` or anything unparsable."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    return parts.hostname.lower(), port or DEFAULT_PORTS[parts.scheme]


def _own_authorities(request: Request) -> set[tuple[str, int]]:
    """This server as the browser addressed it: the ``Host`` (or forwarded host), with the
    default port of either scheme when it names none (a TLS proxy may sit in front)."""
    own: set[tuple[str, int]] = set()
    for header in ("host", "x-forwarded-host"):
        value = (request.headers.get(header) or "").split(",")[0].strip()
        if not value:
            continue
        try:
            parts = urlsplit(f"//{value}")
            port = parts.port
        except ValueError:
            continue
        if parts.hostname:
            ports = [port] if port else list(DEFAULT_PORTS.values())
            own.update((parts.hostname.lower(), p) for p in ports)
    return own


def _has_body(request: Request) -> bool:
    if request.headers.get("transfer-encoding"):
        return True
    length = request.content_length()
    return length is not None and length > 0


def _media_type(request: Request) -> str:
    return (request.headers.get("content-type") or "").split(";")[0].strip().lower()
