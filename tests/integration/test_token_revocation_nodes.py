"""Cutting a credential's tokens reaches every node: two server processes with the token
service share one metadata database (a SQLite file) and one data directory (so one signing
key). A change made through node A refuses the tokens node B issued, on node B."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import pytest

from support.identity import ADMIN, Api, cli, identity_env
from support.oci import assert_oci_error
from support.server import RunningServer, serving


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, ...]]:
    root = tmp_path_factory.mktemp("revocation-nodes")
    env = identity_env(REGISTRY_DOCKYARD_TOKEN_ENABLED="true")
    data = root / "shared-data"
    cli(data, env, "user", "add", ADMIN[0], "--admin", "--password-stdin", stdin=ADMIN[1] + "\n")
    with ExitStack() as stack:
        started = []
        for name in ("a", "b"):
            (root / name).mkdir()
            started.append(stack.enter_context(serving(root / name, env=env, data_dir=data)))
        yield tuple(started)


def offline(node: RunningServer, auth: tuple[str, str]) -> dict[str, str]:
    params = {"service": "dockyard", "offline_token": "true"}
    response = httpx.get(node.url + "/token", params=params, auth=auth, timeout=30)
    assert response.status_code == 200, response.text
    body: dict[str, str] = response.json()
    return body


def refused_everywhere(node: RunningServer, issued: dict[str, str]) -> None:
    """Poll ``node`` until the access token is refused (other nodes notice within about a
    second), then check the refresh token is refused too."""
    headers = {"Authorization": f"Bearer {issued['token']}"}
    deadline = time.monotonic() + 30
    while True:
        answer = httpx.get(node.url + "/v2/", headers=headers, timeout=30)
        if answer.status_code != 200 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert_oci_error(answer, 401, "UNAUTHORIZED")
    assert 'error="invalid_token"' in answer.headers["www-authenticate"]
    form = {"grant_type": "refresh_token", "refresh_token": issued["refresh_token"],
            "service": "dockyard"}  # fmt: skip
    assert_oci_error(httpx.post(node.url + "/token", data=form, timeout=30), 401, "UNAUTHORIZED")


def works(node: RunningServer, issued: dict[str, str]) -> bool:
    headers = {"Authorization": f"Bearer {issued['token']}"}
    return httpx.get(node.url + "/v2/", headers=headers, timeout=30).status_code == 200


def test_a_new_robot_secret_on_one_node_cuts_tokens_on_the_other(
    nodes: tuple[RunningServer, ...],
) -> None:
    a, b = nodes
    with Api(a) as admin:
        admin.project("ops")
        robot_id, name, secret = admin.robot("deployer", "ops", "repository:pull")
    issued = offline(b, (name, secret))
    assert works(b, issued)
    with Api(a) as admin:
        admin.ok("POST", f"/robots/{robot_id}/secret")
    refused_everywhere(b, issued)


def test_disabling_a_user_on_one_node_cuts_tokens_on_the_other_for_good(
    nodes: tuple[RunningServer, ...],
) -> None:
    a, b = nodes
    with Api(a) as admin:
        admin.user("erin", "erin-password")
    with Api(b, ("erin", "erin-password")) as erin:
        pat = erin.ok("POST", "/tokens", 201, json={"name": "ci"})["secret"]
    issued = offline(b, ("erin", "erin-password"))
    assert works(b, issued)
    with Api(a) as admin:
        admin.ok("PATCH", "/users/erin", json={"disabled": True})
        admin.ok("PATCH", "/users/erin", json={"disabled": False})
    refused_everywhere(b, issued)
    login = httpx.get(b.url + "/token", params={"service": "dockyard"}, auth=("erin", pat))
    assert_oci_error(login, 401, "UNAUTHORIZED")
