"""One request to the UI as the pages see it: the request, its session and principal."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from dockyard.api.http import Request
from dockyard.auth.principal import Principal
from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.services.web_sessions import WebSession

FORM_LIMIT = 16 * 1024
FORM_TYPE = "application/x-www-form-urlencoded"


@dataclass(slots=True)
class Visit:
    request: Request
    principal: Principal
    session: WebSession | None
    client: str
    form: dict[str, str] = field(default_factory=dict)
    csrf: str = ""  # the token every form of the page carries
    can_sign_in: bool = False  # whether a password can sign anyone in here
    can_use_oidc: bool = False  # whether an OpenID provider can sign people in
    public_url: str = ""  # http.host: how clients reach the registry, when configured
    set_cookies: list[str] = field(default_factory=list)

    def cookie(self, name: str) -> str | None:
        """A cookie the browser sent (the first of that name)."""
        for part in (self.request.headers.get("cookie") or "").split(";"):
            key, sep, value = part.strip().partition("=")
            if sep and key == name:
                return value
        return None

    def query(self, name: str) -> str:
        return (self.request.param(name) or "").strip()

    @property
    def partial(self) -> bool:
        """An htmx request: answer with the fragment only."""
        return self.request.headers.get("hx-request") == "true"

    @property
    def host(self) -> str:
        """The registry as clients reach it (for pull commands): ``http.host`` when set, else
        as this browser reached it."""
        if self.public_url:
            return urlsplit(self.public_url).netloc or self.public_url
        headers = self.request.headers
        forwarded = (headers.get("x-forwarded-host") or "").split(",")[0].strip()
        return forwarded or headers.get("host", "localhost")

    @property
    def secure(self) -> bool:
        """Whether the browser came over HTTPS (cookies are then ``Secure``)."""
        scheme = self.request.scope.get("scheme", "http")
        forwarded = (self.request.headers.get("x-forwarded-proto") or "").strip().lower()
        return scheme == "https" or forwarded == "https"


async def read_form(request: Request) -> dict[str, str]:
    """An URL-encoded form body (at most 16 KiB), one value per field."""
    kind = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    declared = request.content_length()
    if not kind and not declared and "transfer-encoding" not in request.headers:
        return {}  # no body at all: an empty form
    if kind != FORM_TYPE:
        raise RegistryError(ErrorCode.UNSUPPORTED, f"the body must be {FORM_TYPE}", status=415)
    if declared is not None and declared > FORM_LIMIT:
        raise RegistryError(ErrorCode.BAD_REQUEST, "form too large", status=413)
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > FORM_LIMIT:
            raise RegistryError(ErrorCode.BAD_REQUEST, "form too large", status=413)
        parts.append(chunk)
    try:
        text = b"".join(parts).decode("utf-8")
    except UnicodeDecodeError:
        raise RegistryError(ErrorCode.BAD_REQUEST, "the form is not UTF-8") from None
    return {key: values[0] for key, values in parse_qs(text, keep_blank_values=True).items()}
