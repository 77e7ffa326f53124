"""The HTTP shell: one mount table, one request id, one error boundary for every surface."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dockyard.api.context import Context, UrlPolicy
from dockyard.api.http import Message, respond
from dockyard.api.shell import HttpShell, Mount, ShellOptions
from dockyard.bootstrap import build_registry
from dockyard.config.loader import load_settings
from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.services.registry import Registry
from dockyard.storage.driver import StorageUnavailableError


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    env = {"REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": str(tmp_path)}
    built = build_registry(load_settings(None, env))
    yield built
    built.close()


class Exchange:
    """One request through an ASGI callable, and what it sent back."""

    def __init__(self, path: str, method: str = "GET", headers: Any = (), body: bytes = b""):
        self.scope = {
            "type": "http", "method": method, "path": path, "query_string": b"",
            "headers": list(headers), "client": ("127.0.0.1", 1234), "scheme": "http",
        }  # fmt: skip
        self.body = body
        self.sent: list[Message] = []

    async def receive(self) -> Message:
        body, self.body = self.body, b""
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(self, message: Message) -> None:
        self.sent.append(message)

    def run(self, app: Any) -> Exchange:
        asyncio.run(app(self.scope, self.receive, self.send))
        return self

    @property
    def status(self) -> int:
        return int(self.sent[0]["status"])

    @property
    def headers(self) -> dict[bytes, bytes]:
        return dict(self.sent[0]["headers"])

    def json(self) -> Any:
        return json.loads(b"".join(m.get("body", b"") for m in self.sent[1:]))


async def ok(ctx: Context) -> None:
    ctx.route = "ok"
    await respond(ctx.send, 200, [(b"x-request-id", ctx.request_id.encode())], b"fine")


async def refuse(ctx: Context) -> None:
    raise RegistryError(ErrorCode.DENIED, "no", detail={"why": "test"})


async def crash(ctx: Context) -> None:
    raise RuntimeError("secret internals /etc/passwd")


async def unavailable(ctx: Context) -> None:
    raise StorageUnavailableError("bucket down")


async def crash_after_start(ctx: Context) -> None:
    await ctx.send({"type": "http.response.start", "status": 200, "headers": []})
    raise RuntimeError("too late to answer")


def shell(registry: Registry, **options: Any) -> HttpShell:
    mounts = [
        Mount("/v2", ok),
        Mount("/refuse", refuse),
        Mount("/crash", crash),
        Mount("/late", crash_after_start),
        Mount("/down", unavailable),
        Mount("/", ok, exact=True),
    ]
    return HttpShell(registry, mounts, ShellOptions(UrlPolicy(), **options))


def test_mount_table_matches_prefixes_and_exact_paths(registry: Registry) -> None:
    app = shell(registry)
    assert app.surface_for("/v2") is ok and app.surface_for("/v2/a/b/manifests/x") is ok
    assert app.surface_for("/") is ok
    assert app.surface_for("/v2x") is app.fallback, "a prefix is a whole path segment"
    assert app.surface_for("/anything") is app.fallback, "/ is exact"


def test_unknown_path_is_a_404_envelope_with_a_request_id(registry: Registry) -> None:
    answer = Exchange("/nowhere").run(shell(registry))
    assert answer.status == 404
    assert answer.json()["errors"][0]["code"] == "UNSUPPORTED"
    assert len(answer.headers[b"x-request-id"]) == 16


def test_a_registry_error_is_the_oci_envelope(registry: Registry) -> None:
    answer = Exchange("/refuse", headers=[(b"x-request-id", b"mine-1")]).run(shell(registry))
    assert answer.status == 403
    assert answer.json() == {
        "errors": [{"code": "DENIED", "message": "no", "detail": {"why": "test"}}]
    }
    assert answer.headers[b"x-request-id"] == b"mine-1", "the client's id, once, everywhere"


def test_a_crash_is_a_500_without_traceback(
    registry: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, "dockyard.api"):
        answer = Exchange("/crash").run(shell(registry))
    assert answer.status == 500
    error = answer.json()["errors"][0]
    request_id = answer.headers[b"x-request-id"].decode()
    assert error["code"] == "UNKNOWN" and error["detail"] == {"request_id": request_id}
    raw = b"".join(m.get("body", b"") for m in answer.sent[1:])
    assert b"secret" not in raw and b"Traceback" not in raw and b"passwd" not in raw
    assert "secret internals" in caplog.text, "the traceback goes to the server log"


def test_storage_down_is_503(registry: Registry) -> None:
    answer = Exchange("/down").run(shell(registry))
    assert answer.status == 503 and answer.json()["errors"][0]["code"] == "UNAVAILABLE"


def test_a_failure_after_the_response_started_is_not_answered_twice(registry: Registry) -> None:
    answer = Exchange("/late").run(shell(registry))
    starts = [m for m in answer.sent if m["type"] == "http.response.start"]
    assert len(starts) == 1 and starts[0]["status"] == 200


def test_head_error_has_no_body(registry: Registry) -> None:
    answer = Exchange("/refuse", method="HEAD").run(shell(registry))
    assert answer.status == 403
    assert all(m.get("body", b"") == b"" for m in answer.sent[1:])
    assert int(answer.headers[b"content-length"]) > 0


def test_configured_headers_on_every_surface_and_error(registry: Registry) -> None:
    extra = ((b"x-frame-options", b"DENY"),)
    app = shell(registry, extra_headers=extra)
    for path in ("/v2/", "/refuse", "/crash", "/nowhere"):
        assert Exchange(path).run(app).headers[b"x-frame-options"] == b"DENY", path


def test_metrics_and_log_see_every_request(registry: Registry) -> None:
    seen: list[tuple[str, int]] = []
    app = shell(registry, observe=lambda ctx, _seconds: seen.append((ctx.route, ctx.status)))
    for path in ("/v2/", "/refuse", "/crash", "/nowhere"):
        Exchange(path).run(app)
    assert seen == [("ok", 200), ("unknown", 403), ("unknown", 500), ("unknown", 404)]


def test_hostile_request_id_is_replaced(registry: Registry) -> None:
    answer = Exchange("/v2/", headers=[(b"x-request-id", b"two words")]).run(shell(registry))
    assert answer.headers[b"x-request-id"] != b"two words"
