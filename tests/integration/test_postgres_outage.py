"""PostgreSQL goes away under a running dockyard, then comes back.

While it is down, requests that need metadata answer 503 with the OCI error envelope (never a
500 with a traceback); once it is back, the same dockyard process serves again by itself.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support import postgres
from support.oci import assert_oci_error, make_image, push_image
from support.server import free_port, serving

pytestmark = pytest.mark.skipif(not postgres.available(), reason="PostgreSQL not installed")


@pytest.fixture
def own_postgres() -> Iterator[postgres.PostgresServer]:
    """A server of this test's own: it is stopped and restarted here."""
    server = postgres.PostgresServer()
    server.start()
    try:
        yield server
    finally:
        server.close()


def wait_until_serving(client: httpx.Client, path: str, timeout: float = 30) -> int:
    """Poll ``path`` until it answers 200; return how many 503s came first."""
    unavailable = 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = client.get(path)
        if response.status_code == 200:
            return unavailable
        assert_oci_error(response, 503, "UNAVAILABLE")
        unavailable += 1
        time.sleep(0.2)
    raise AssertionError(f"{path} still failing {timeout}s after PostgreSQL came back")


def assert_no_internal_errors(log: str) -> None:
    """No request was answered 500 (the API logs those as "unhandled error")."""
    assert "unhandled error" not in log
    assert '"status":500' not in log.replace(" ", "")


def test_outage_answers_503_and_recovers_without_restart(
    tmp_path: Path, own_postgres: postgres.PostgresServer
) -> None:
    url = own_postgres.create_database("outage") + "?pool_min_size=2&pool_timeout=2"
    env = {"REGISTRY_DOCKYARD_DATABASE": url, "REGISTRY_DOCKYARD_WORKERS": "2"}
    image = make_image()
    with serving(tmp_path, env=env) as server, server.client() as client:
        push_image(client, "outage/app", image, tag="v1")

        own_postgres.stop()
        for path in ("/v2/outage/app/manifests/v1", "/v2/_catalog", "/v2/outage/app/tags/list"):
            assert_oci_error(client.get(path), 503, "UNAVAILABLE")
        started = client.post("/v2/outage/app/blobs/uploads/")
        assert_oci_error(started, 503, "UNAVAILABLE")
        head = client.head("/v2/outage/app/manifests/v1")
        assert head.status_code == 503 and head.content == b""
        assert client.get("/health").status_code == 200, "the process itself is fine"

        own_postgres.start()
        wait_until_serving(client, "/v2/outage/app/manifests/v1")
        for _ in range(10):  # every pooled connection (both workers) works again
            fetched = client.get("/v2/outage/app/manifests/v1")
            assert fetched.status_code == 200 and fetched.content == image.manifest
        push_image(client, "outage/app", make_image(), tag="v2")
        assert client.get("/v2/outage/app/tags/list").json()["tags"] == ["v1", "v2"]
        assert server.process.poll() is None, "dockyard was never restarted"
    assert_no_internal_errors(server.log())


def test_starts_while_postgres_is_down_and_serves_once_it_is_up(
    tmp_path: Path, own_postgres: postgres.PostgresServer
) -> None:
    url = own_postgres.create_database("late") + "?pool_timeout=1"
    own_postgres.stop()
    env = {"REGISTRY_DOCKYARD_DATABASE": url}
    with serving(tmp_path, env=env) as server, server.client() as client:
        assert_oci_error(client.get("/v2/_catalog"), 503, "UNAVAILABLE")
        own_postgres.start()
        wait_until_serving(client, "/v2/_catalog")  # migrates on first use
        push_image(client, "late/app", make_image(), tag="v1")
        assert client.get("/v2/_catalog").json() == {"repositories": ["late/app"]}
    assert_no_internal_errors(server.log())


def _debug_health(port: int) -> tuple[int, dict[str, object]]:
    response = httpx.get(f"http://127.0.0.1:{port}/debug/health", timeout=5)
    return response.status_code, response.json()


def _wait_for_health(port: int, status: int, timeout: float = 30) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code, body = _debug_health(port)
        if code == status:
            return body
        time.sleep(0.1)
    raise AssertionError(f"/debug/health never answered {status}: {body}")


def test_debug_health_reports_the_database_outage_and_the_recovery(
    tmp_path: Path, own_postgres: postgres.PostgresServer
) -> None:
    """health.storagedriver on: /debug/health turns 503 naming the database while PostgreSQL
    is down (storage still ok), and 200 again once it is back; /health stays 200 throughout."""
    debug = free_port()
    env = {
        "REGISTRY_DOCKYARD_DATABASE": own_postgres.create_database("health") + "?pool_timeout=1",
        "REGISTRY_HTTP_DEBUG_ADDR": f"127.0.0.1:{debug}",
        "REGISTRY_HEALTH_STORAGEDRIVER_ENABLED": "true",
        "REGISTRY_HEALTH_STORAGEDRIVER_INTERVAL": "200ms",
        "REGISTRY_HEALTH_STORAGEDRIVER_THRESHOLD": "2",
    }
    with serving(tmp_path, env=env) as server, server.client() as client:
        healthy = _wait_for_health(debug, 200)
        assert healthy["checks"] == {"storage": "ok", "database": "ok"}
        own_postgres.stop()
        sick = _wait_for_health(debug, 503)
        assert sick["status"] == "unhealthy"
        checks = sick["checks"]
        assert isinstance(checks, dict) and checks["storage"] == "ok"
        assert checks["database"] != "ok"
        assert client.get("/health").status_code == 200
        own_postgres.start()
        assert _wait_for_health(debug, 200)["checks"] == {"storage": "ok", "database": "ok"}
    assert_no_internal_errors(server.log())
