"""Failed-login throttling shared by nodes through a real redis-server, and its fallback.

Each "node" is a :class:`SharedLoginThrottle` with its own in-process counts and its own Redis
connection, as two server processes would have.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from dockyard.cache.redis import RedisOptions, connect
from dockyard.cache.windows import RedisWindows
from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.services.identity.common import IdentityOptions
from dockyard.services.identity.throttle import SharedLoginThrottle, build_throttle
from support.redis_server import RedisServer, start_redis
from unit.identity.conftest import Run

KEY = re.compile(r"dockyard:login:(pair|client):[0-9a-f]{64}")


class Counted:
    """A Telemetry that remembers counters."""

    def __init__(self) -> None:
        self.counts: dict[str, float] = {}

    def count(self, name: str, amount: float = 1.0, **labels: str) -> None:
        self.counts[name] = self.counts.get(name, 0.0) + amount

    def gauge(self, name: str, value: float, **labels: str) -> None:
        return None


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = start_redis(tmp_path)
    try:
        yield server
    finally:
        server.stop()


def node(
    server: RedisServer, telemetry: Counted | None = None, **limits: Any
) -> SharedLoginThrottle:
    options = IdentityOptions(
        login_attempts=limits.get("per_user", 3),
        client_attempts=limits.get("per_client", 100),
        login_window=60.0,
    )
    windows = RedisWindows(connect(RedisOptions(addr=server.addr)))
    windows.health.pause_seconds = 0.0  # retry Redis on every call (the tests restart it)
    return build_throttle(options, windows, telemetry or Counted())


def refused(run: Run[Any], throttle: SharedLoginThrottle, user: str, client: str) -> int:
    """The Retry-After of the 429 that ``check`` must raise."""
    with pytest.raises(RegistryError) as error:
        run(throttle.check(user, client))
    assert error.value.code is ErrorCode.TOOMANYREQUESTS
    return int(error.value.headers["Retry-After"])


def fail(run: Run[Any], throttle: SharedLoginThrottle, user: str, client: str, times: int) -> None:
    for _ in range(times):
        run(throttle.check(user, client))
        run(throttle.failed(user, client))


def test_failures_on_one_node_throttle_the_name_from_that_address_on_another(
    redis_server: RedisServer, run: Run[Any]
) -> None:
    a, b = node(redis_server), node(redis_server)
    fail(run, a, "mallory", "10.0.0.1", 3)
    assert 1 <= refused(run, b, "mallory", "10.0.0.1") <= 60
    run(b.check("mallory", "10.0.0.2"))  # the name from an address that did not fail
    run(b.check("alice", "10.0.0.1"))  # other names are not affected
    run(b.succeeded("mallory", "10.0.0.1"))  # a success anywhere clears it everywhere
    run(a.check("mallory", "10.0.0.1"))


def test_failures_from_one_address_are_counted_across_nodes(
    redis_server: RedisServer, run: Run[Any]
) -> None:
    a, b = node(redis_server, per_client=2), node(redis_server, per_client=2)
    run(a.failed("one", "192.0.2.7"))
    run(b.failed("two", "192.0.2.7"))
    refused(run, a, "three", "192.0.2.7")
    run(a.check("three", "192.0.2.8"))


def test_keys_are_hashed_namespaced_bounded_and_expire(
    redis_server: RedisServer, run: Run[Any]
) -> None:
    a = node(redis_server, per_user=3)
    hostile = "dockyard:lock:*\r\nFLUSHALL\r\n{x}"
    for _ in range(10):
        run(a.failed(hostile, "2001:db8::1"))
    client = redis.Redis(host="127.0.0.1", port=redis_server.port)
    try:
        keys = sorted(k.decode() for k in client.keys("*"))
        assert len(keys) == 2 and all(KEY.fullmatch(k) for k in keys), keys
        for key in keys:
            assert 0 < client.pttl(key) <= 60_000
        user_key = next(k for k in keys if ":pair:" in k)
        assert client.zcard(user_key) == 3, "no more entries than the limit"
    finally:
        client.close()
    refused(run, a, hostile, "2001:db8::1")


def test_redis_down_falls_back_to_each_nodes_own_counts(
    redis_server: RedisServer, run: Run[Any]
) -> None:
    telemetry = Counted()
    a, b = node(redis_server, telemetry), node(redis_server)
    redis_server.stop()
    fail(run, a, "trudy", "10.0.0.1", 3)  # no error: counted in the process
    refused(run, a, "trudy", "10.0.0.1")
    run(b.check("trudy", "10.0.0.1"))  # the other node has not seen those failures
    assert telemetry.counts["login_throttle_fallbacks"] >= 6
    run(a.succeeded("trudy", "10.0.0.1"))
    redis_server.start()
    fail(run, b, "trudy", "10.0.0.2", 3)  # shared again once Redis is back
    refused(run, a, "trudy", "10.0.0.2")
