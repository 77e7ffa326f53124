"""Every surface of a real ``dockyard serve`` through the one HTTP shell: the same request id,
the same OCI error envelope, the same access log, on /v2, /api/v1, /token, /health and the
debug listener."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx

from support.identity import identity_env
from support.server import RunningServer, free_port, serving


def assert_envelope(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    errors = response.json()["errors"]
    assert errors[0]["code"] == code and isinstance(errors[0]["message"], str)
    assert "Traceback" not in response.text


def logged_ids(server: RunningServer, wanted: set[str]) -> set[str]:
    deadline = time.monotonic() + 10
    found: set[str] = set()
    while time.monotonic() < deadline and found != wanted:
        lines = [json.loads(x) for x in server.log().splitlines() if x.startswith("{")]
        found = {x.get("request_id", "") for x in lines if x.get("logger") == "dockyard.access"}
        found &= wanted
        time.sleep(0.05)
    return found


def test_every_surface_shares_request_ids_errors_and_the_log(tmp_path: Path) -> None:
    env = identity_env(REGISTRY_DOCKYARD_TOKEN_ENABLED="true")
    with serving(tmp_path, env=env) as server, server.client() as client:
        answers: dict[str, httpx.Response] = {}
        for name, path in {
            "v2": "/v2/library/missing/manifests/latest",
            "api": "/api/v1/projects/missing",
            "token": "/token/nothing-here",
            "none": "/nowhere",
            "health": "/health",
        }.items():
            answers[name] = client.get(path, headers={"X-Request-Id": f"shell-{name}"})
        for name, response in answers.items():
            assert response.headers["x-request-id"] == f"shell-{name}", name
        assert_envelope(answers["v2"], 401, "UNAUTHORIZED")  # the bearer challenge first
        assert answers["v2"].headers["www-authenticate"].startswith("Bearer ")
        assert_envelope(answers["api"], 404, "NOT_FOUND")
        assert_envelope(answers["token"], 404, "UNSUPPORTED")
        assert_envelope(answers["none"], 404, "UNSUPPORTED")
        assert answers["health"].json()["status"] == "ok"
        wanted = {f"shell-{name}" for name in answers}
        assert logged_ids(server, wanted) == wanted


def test_management_surface_without_identity_is_an_envelope(tmp_path: Path) -> None:
    with serving(tmp_path) as server, server.client() as client:
        response = client.post("/api/v1/projects", json={"name": "x"})
        assert_envelope(response, 404, "NOT_FOUND")
        assert len(response.headers["x-request-id"]) == 16


def test_debug_listener_is_a_shell_too(tmp_path: Path) -> None:
    debug = f"127.0.0.1:{free_port()}"
    with serving(tmp_path, env={"REGISTRY_HTTP_DEBUG_ADDR": debug}) as server:
        with server.client() as client:
            client.get("/v2/")
        metrics = httpx.get(f"http://{debug}/metrics", timeout=30)
        assert metrics.status_code == 200 and "registry_http_requests" in metrics.text
        health = httpx.get(f"http://{debug}/debug/health", timeout=30)
        body: Any = health.json()
        assert health.status_code == 200 and body["status"] == "ok"
        missing = httpx.get(f"http://{debug}/nope", headers={"X-Request-Id": "dbg-1"}, timeout=30)
        assert_envelope(missing, 404, "UNSUPPORTED")
        assert missing.headers["x-request-id"] == "dbg-1"
