"""The real client address behind nginx (``dockyard.trustedproxies``), with real nginx.

nginx (configured from examples/cluster/nginx.conf, which sets X-Forwarded-For) listens on
127.0.0.1 and connects to dockyard from 127.0.0.1, the one trusted proxy. Clients connect from
other loopback addresses (127.0.0.2, 127.0.0.3...), so each has an address of its own and
login throttling, the audit log and the access log can be checked to record it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support.identity import ADMIN, Api, identity_server
from support.nginx import nginx_in_front
from support.oci import assert_oci_error
from support.server import RunningServer


@pytest.fixture
def behind_nginx(tmp_path: Path) -> Iterator[tuple[RunningServer, str]]:
    extra = {
        "REGISTRY_DOCKYARD_TRUSTEDPROXIES": "[127.0.0.1/32]",
        "REGISTRY_DOCKYARD_IDENTITY_LOGINATTEMPTS": "100",
        "REGISTRY_DOCKYARD_IDENTITY_CLIENTATTEMPTS": "3",
    }
    with (
        identity_server(tmp_path, **extra) as server,
        nginx_in_front(tmp_path, [server.port]) as url,
    ):
        yield server, url


def from_address(source: str, url: str) -> httpx.Client:
    """A client whose connections come from loopback address ``source``."""
    transport = httpx.HTTPTransport(local_address=source)
    return httpx.Client(base_url=url, transport=transport, timeout=30)


def test_throttling_audit_and_access_log_see_the_client_not_the_proxy(
    behind_nginx: tuple[RunningServer, str],
) -> None:
    server, url = behind_nginx
    with from_address("127.0.0.2", url) as attacker:
        for index in range(3):  # a forged X-Forwarded-For changes nothing: nginx appends
            spoof = {"X-Forwarded-For": f"203.0.113.{index}"}
            refused = attacker.get("/v2/", auth=(f"guess{index}", "wrong"), headers=spoof)
            assert_oci_error(refused, 401, "UNAUTHORIZED")
        assert_oci_error(attacker.get("/v2/", auth=("guess9", "wrong")), 429, "TOOMANYREQUESTS")
    with from_address("127.0.0.3", url) as neighbour:  # same proxy, another client
        assert_oci_error(neighbour.get("/v2/", auth=("guess9", "wrong")), 401, "UNAUTHORIZED")
        assert neighbour.get("/v2/", auth=ADMIN).status_code == 200
    with from_address("127.0.0.4", server.url) as direct:  # not a trusted proxy: ignored
        forged = {"X-Forwarded-For": "127.0.0.2", "X-Real-IP": "127.0.0.2"}
        assert_oci_error(direct.get("/v2/", auth=("guess9", "wrong"), headers=forged), 401,
                         "UNAUTHORIZED")  # fmt: skip

    with Api(server) as admin:
        query = {"event": "login", "outcome": "failure", "limit": "50"}
        failures = admin.ok("GET", "/audit", params=query)["items"]
    audited = {(event["actor"], event["client"]) for event in failures}
    assert audited == {("guess0", "127.0.0.2"), ("guess1", "127.0.0.2"), ("guess2", "127.0.0.2"),
                       ("guess9", "127.0.0.3"), ("guess9", "127.0.0.4")}  # fmt: skip
    lines = [json.loads(x) for x in server.log().splitlines() if x.startswith("{")]
    remotes = {  # the /v2 requests (the admin's /api/v1 calls above come from 127.0.0.1)
        line["remote"]
        for line in lines
        if line["logger"] == "dockyard.access" and line["path"].startswith("/v2")
    }
    assert remotes == {"127.0.0.2", "127.0.0.3", "127.0.0.4"}, "never nginx's nor a forged one"
