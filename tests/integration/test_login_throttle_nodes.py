"""Failed-login throttling across two real server processes sharing one real redis-server.

Both nodes share a SQLite file and a storage root (enough for identity: users live in the
database) and ``redis.addr``. Failures on node A throttle the name from that address on node
B, never from another address; with Redis stopped logins keep working and each node throttles
by its own counts.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from support.identity import ADMIN, cli, identity_env
from support.oci import assert_oci_error
from support.redis_server import RedisServer, start_redis
from support.server import RunningServer, free_port, serving


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    directory = tmp_path / "redis"
    directory.mkdir()
    server = start_redis(directory)
    try:
        yield server
    finally:
        server.stop()


def _nodes(
    tmp_path: Path, stack: ExitStack, redis_addr: str
) -> tuple[RunningServer, RunningServer, int]:
    """Two nodes with identity on; returns them and node B's metrics port."""
    env = identity_env(
        REGISTRY_DOCKYARD_IDENTITY_LOGINATTEMPTS="3",
        REGISTRY_DOCKYARD_IDENTITY_CLIENTATTEMPTS="1000",
        REGISTRY_REDIS_ADDR=redis_addr,
    )
    data = tmp_path / "shared-data"
    cli(data, env, "user", "add", ADMIN[0], "--admin", "--password-stdin", stdin=ADMIN[1] + "\n")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    metrics_port = free_port()
    a = stack.enter_context(serving(tmp_path / "a", env=env, data_dir=data))
    b_env = {**env, "REGISTRY_HTTP_DEBUG_ADDR": f"127.0.0.1:{metrics_port}"}
    b = stack.enter_context(serving(tmp_path / "b", env=b_env, data_dir=data))
    return a, b, metrics_port


def _login(node: RunningServer, user: str, password: str) -> httpx.Response:
    return httpx.get(node.url + "/v2/", auth=(user, password), timeout=30)


def _fallbacks(metrics_port: int) -> float:
    text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith("registry_login_throttle_fallbacks_total "):
            return float(line.split()[1])
    raise AssertionError("registry_login_throttle_fallbacks_total is not exported")


def test_failures_on_one_node_throttle_the_other_and_redis_outage_fails_open(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    with ExitStack() as stack:
        a, b, metrics_port = _nodes(tmp_path, stack, redis_server.addr)
        for _ in range(3):
            assert_oci_error(_login(a, "mallory", "wrong"), 401, "UNAUTHORIZED")
        throttled = _login(b, "mallory", "wrong")
        assert_oci_error(throttled, 429, "TOOMANYREQUESTS")
        assert 1 <= int(throttled.headers["retry-after"]) <= 300
        assert _login(b, *ADMIN).status_code == 200, "other names log in"
        assert _fallbacks(metrics_port) == 0

        redis_server.stop()
        assert _login(a, *ADMIN).status_code == 200, "logins work without Redis"
        for _ in range(3):
            assert_oci_error(_login(b, "trudy", "wrong"), 401, "UNAUTHORIZED")
        assert_oci_error(_login(b, "trudy", "wrong"), 429, "TOOMANYREQUESTS")
        assert_oci_error(_login(a, "trudy", "wrong"), 401, "UNAUTHORIZED")  # A's own counts
        assert _fallbacks(metrics_port) > 0
        logs = a.log() + b.log()
    assert "unhandled error" not in logs
    assert "redis throttle" in logs, "the outage is logged"


def _from(source: str, node: RunningServer) -> httpx.Client:
    """A client whose connections come from loopback address ``source``."""
    transport = httpx.HTTPTransport(local_address=source)
    return httpx.Client(base_url=node.url, transport=transport, timeout=30)


def test_wrong_passwords_never_lock_the_right_one_out_of_another_address(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    with ExitStack() as stack:
        a, b, _ = _nodes(tmp_path, stack, redis_server.addr)
        with _from("127.0.0.66", a) as stranger:  # no credentials, only guesses
            for _ in range(3):
                assert_oci_error(stranger.get("/v2/", auth=(ADMIN[0], "guess")), 401,
                                 "UNAUTHORIZED")  # fmt: skip
        with _from("127.0.0.66", b) as stranger:  # throttled on every node, even when right
            assert_oci_error(stranger.get("/v2/", auth=ADMIN), 429, "TOOMANYREQUESTS")
        for node in (a, b):
            with _from("127.0.0.10", node) as admin:
                assert admin.get("/v2/", auth=ADMIN).status_code == 200
