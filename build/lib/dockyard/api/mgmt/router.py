"""A small route table for the management API that also writes its OpenAPI 3.1 document.

Each :class:`Endpoint` names its method, path template (``/projects/{project}``), handler,
request and response types (msgspec), query parameters and summary; the OpenAPI document is
built from exactly these, so it cannot drift from what is served.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import msgspec

from dockyard.api.http import Request
from dockyard.api.mgmt.schemas import Errors
from dockyard.auth.principal import Principal
from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.core.jsondepth import JsonTooDeepError, check_json_depth

B = TypeVar("B")
PREFIX = "/api/v1"
_PARAM = re.compile(r"\{(\w+)\}")
_TYPES = {
    "string": {"type": "string"},
    "integer": {"type": "integer"},
    "boolean": {"type": "boolean"},
}
PAGING = (
    ("limit", "integer", "page size (default 50, at most 500)"),
    ("cursor", "string", "the `next` value of the previous page"),
)


@dataclass(slots=True)
class Call:
    """One request as a handler sees it."""

    request: Request
    principal: Principal
    params: dict[str, str]
    raw_body: bytes = b""

    def query(self, name: str) -> str:
        return self.request.param(name) or ""

    def int_query(self, name: str) -> int | None:
        value = self.query(name)
        if not value:
            return None
        if not value.isdigit():
            raise RegistryError(ErrorCode.BAD_REQUEST, f"{name} must be a number")
        return int(value)

    def bool_query(self, name: str) -> bool | None:
        value = self.query(name).lower()
        if value in ("", "any"):
            return None
        if value not in ("true", "false"):
            raise RegistryError(ErrorCode.BAD_REQUEST, f"{name} must be true or false")
        return value == "true"

    def int_param(self, name: str) -> int:
        value = self.params[name]
        if not value.isdigit():
            raise RegistryError(ErrorCode.NOT_FOUND, "not found", detail={name: value[:40]})
        return int(value)

    def body(self, kind: type[B]) -> B:
        try:
            check_json_depth(self.raw_body)
        except JsonTooDeepError as exc:
            raise RegistryError(ErrorCode.BAD_REQUEST, f"invalid body: {exc}") from None
        try:
            return msgspec.json.decode(self.raw_body or b"null", type=kind)
        except msgspec.ValidationError as exc:
            raise RegistryError(ErrorCode.BAD_REQUEST, f"invalid body: {exc}") from None
        except msgspec.DecodeError:
            raise RegistryError(ErrorCode.BAD_REQUEST, "the body is not valid JSON") from None


@dataclass(frozen=True, slots=True)
class Reply:
    status: int = 200
    body: Any = None  # a msgspec type, list or dict; None: no body
    headers: tuple[tuple[str, str], ...] = ()
    stream: AsyncIterator[bytes] | None = None  # a body sent as it comes (no Content-Length)


Handler = Callable[[Call], Awaitable[Reply]]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    request: Any = None
    response: Any = None
    status: int = 200
    query: tuple[tuple[str, str, str], ...] = ()
    public: bool = False  # anonymous callers may call it (they see public projects)
    media_type: str = "application/json"  # of the response (JSON lines: one per line)
    pattern: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        # Templates hold only lower case letters, "/", "-" and {params}: nothing to escape.
        regex = _PARAM.sub(lambda m: f"(?P<{m.group(1)}>[^/]+)", self.path)
        object.__setattr__(self, "pattern", re.compile(f"^{regex}$"))


class Router:
    def __init__(self, endpoints: Sequence[Endpoint]) -> None:
        self.endpoints = tuple(endpoints)

    def match(self, method: str, path: str) -> tuple[Endpoint, dict[str, str]]:
        allowed: list[str] = []
        for endpoint in self.endpoints:
            found = endpoint.pattern.match(path)
            if found is None:
                continue
            if endpoint.method == method:
                return endpoint, found.groupdict()
            allowed.append(endpoint.method)
        if allowed:
            raise RegistryError(
                ErrorCode.UNSUPPORTED,
                f"method {method} not allowed here",
                status=405,
                headers={"Allow": ", ".join(allowed)},
            )
        raise RegistryError(ErrorCode.NOT_FOUND, "no such endpoint", detail={"path": path[:200]})

    def openapi(self, version: str) -> dict[str, Any]:
        types = {e.request for e in self.endpoints if e.request is not None}
        types |= {e.response for e in self.endpoints if e.response is not None}
        ordered = [Errors, *sorted(types, key=repr)]
        refs, components = msgspec.json.schema_components(
            ordered, ref_template="#/components/schemas/{name}"
        )
        ref_of = dict(zip(ordered, refs, strict=True))
        paths: dict[str, dict[str, Any]] = {}
        for endpoint in self.endpoints:
            operation = _operation(endpoint, ref_of)
            paths.setdefault(PREFIX + endpoint.path, {})[endpoint.method.lower()] = operation
        return {
            "openapi": "3.1.0",
            "info": {"title": "dockyard management API", "version": version},
            "servers": [{"url": "/"}],
            "paths": paths,
            "components": {
                "schemas": components,
                "securitySchemes": {
                    "basic": {"type": "http", "scheme": "basic"},
                    "token": {
                        "type": "http",
                        "scheme": "bearer",
                        "description": "a personal access token (dyp_...)",
                    },
                },
            },
            "security": [{"basic": []}, {"token": []}],
        }


def _operation(endpoint: Endpoint, ref_of: dict[Any, Any]) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PARAM.findall(endpoint.path)
    ]
    parameters += [
        {
            "name": name,
            "in": "query",
            "required": False,
            "schema": _TYPES[kind],
            "description": text,
        }
        for name, kind, text in endpoint.query
    ]
    error = {"content": {"application/json": {"schema": ref_of[Errors]}}}
    responses: dict[str, Any] = {"default": {"description": "an error", **error}}
    if endpoint.response is None:
        responses[str(endpoint.status)] = {"description": "done"}
    else:
        content = {endpoint.media_type: {"schema": ref_of[endpoint.response]}}
        responses[str(endpoint.status)] = {"description": "success", "content": content}
    operation: dict[str, Any] = {
        "summary": endpoint.summary,
        "tags": [endpoint.tag],
        "operationId": f"{endpoint.method.lower()}_{_slug(endpoint.path)}",
        "parameters": parameters,
        "responses": responses,
    }
    if endpoint.request is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": ref_of[endpoint.request]}},
        }
    if endpoint.public:
        operation["security"] = [{}, {"basic": []}, {"token": []}]
    return operation


def _slug(path: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", path.lower()).strip("_")
