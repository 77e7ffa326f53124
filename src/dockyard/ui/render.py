"""Templates, their filters, and the responses the UI sends (with its security headers).

Every page carries a Content-Security-Policy that allows scripts, styles and images from
this server only (no inline script or style, no eval: htmx is configured for that in
``base.html``), forbids framing (``frame-ancestors 'none'`` and ``X-Frame-Options: DENY``)
and sends no Referer to other sites. Pages are never cached; static files are, for an hour.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import jinja2

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = (
    ("content-security-policy", CSP),
    ("x-frame-options", "DENY"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "same-origin"),
    ("cross-origin-opener-policy", "same-origin"),
)
HTML = "text/html; charset=utf-8"
STATIC_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".svg": "image/svg+xml",
}
_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


@dataclass(slots=True)
class Page:
    """A response before it is sent."""

    status: int = 200
    body: bytes = b""
    content_type: str = HTML
    headers: list[tuple[str, str]] = field(default_factory=list)
    cache: str = "no-store"
    user: str = ""  # who asked, for the access log

    def header_list(self) -> list[tuple[bytes, bytes]]:
        pairs = [*SECURITY_HEADERS, ("cache-control", self.cache), ("vary", "Cookie, HX-Request")]
        if self.body or self.status == 200:
            pairs.append(("content-type", self.content_type))
        pairs += self.headers
        return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in pairs]


def redirect(location: str, *, status: int = 303) -> Page:
    return Page(status, headers=[("location", location)])


def human_size(size: int | None) -> str:
    if size is None:
        return "-"
    value = float(size)
    for unit in _UNITS:
        if value < 1024 or unit == _UNITS[-1]:
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def utc_time(moment: float | None) -> str:
    if moment is None:
        return "never"
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(moment))


def iso_time(moment: float | None) -> str:
    if moment is None:
        return ""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))


def short_digest(digest: str) -> str:
    algorithm, _, hexpart = digest.partition(":")
    return f"{algorithm}:{hexpart[:12]}" if hexpart else digest


class Templates:
    def __init__(self) -> None:
        self.env = jinja2.Environment(
            loader=jinja2.PackageLoader("dockyard.ui", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(size=human_size, when=utc_time, iso=iso_time,
                                short=short_digest)  # fmt: skip

    def page(self, name: str, status: int = 200, **context: Any) -> Page:
        body = self.env.get_template(name).render(**context).encode()
        return Page(status, body)


def load_static() -> dict[str, tuple[bytes, str]]:
    """Every file of ``static/`` by name, read once (a handful of small files)."""
    found: dict[str, tuple[bytes, str]] = {}
    for entry in resources.files("dockyard.ui").joinpath("static").iterdir():
        name = entry.name
        suffix = name[name.rfind(".") :] if "." in name else ""
        if entry.is_file() and suffix in STATIC_TYPES:
            found[name] = (entry.read_bytes(), STATIC_TYPES[suffix])
    return found
