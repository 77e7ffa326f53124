"""Replication triggered by pushes (and deletions), retried through the queue while the peer
is down; a peer with a token realm on another port; overwrite off; Debian's docker-registry
with HTTP Basic auth as a push target (chunked uploads through its ``_state`` locations)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from e2e.clientkit import write_htpasswd
from support.identity import ADMIN, Api, identity_server
from support.mirror import logged_registry
from support.oci import make_image
from support.replication import assert_same_tree, push_image, push_signed_index, wait_run
from support.server import RunningServer, free_port, serving, start_server, stop_server

LOOPBACK = {
    "REGISTRY_DOCKYARD_OUTBOUND_ALLOWED": "[127.0.0.0/8]",
    "REGISTRY_DOCKYARD_JOBS_BACKOFF": "1s",
    "REGISTRY_DOCKYARD_JOBS_MAXBACKOFF": "2s",
    "REGISTRY_DOCKYARD_JOBS_POLL": "200ms",
    "REGISTRY_DOCKYARD_EVENTS_POLL": "200ms",
}
USERS = {"pusher": "pusher-pw"}


@pytest.fixture
def source(tmp_path: Path) -> Iterator[RunningServer]:
    (tmp_path / "source").mkdir()
    with identity_server(tmp_path / "source", **LOOPBACK) as running, Api(running) as admin:
        admin.project("apps")
        yield running


def _eventually(check: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def _status(url: str, path: str, **kwargs: Any) -> int:
    try:
        return httpx.get(url + path, timeout=10, **kwargs).status_code
    except httpx.TransportError:
        return 0


def test_pushes_and_deletions_are_replicated_and_retried_while_the_peer_is_down(
    tmp_path: Path, source: RunningServer
) -> None:
    port = free_port()
    (tmp_path / "peer").mkdir()
    delete = {"REGISTRY_STORAGE_DELETE_ENABLED": "true"}
    peer = start_server(tmp_path / "peer", port=port, env=delete)
    body = {"policy": {"name": "live", "url": peer.url, "repositories": ["apps/**"],
                       "on_push": True, "mirror_deletions": True}}  # fmt: skip
    try:
        with Api(source) as api, httpx.Client(base_url=source.url, auth=ADMIN) as client:
            api.ok("POST", "/replication/policies", 201, json=body)
            pushed = push_signed_index(client, "apps/live", "v1")
            for reference in ("v1", pushed.signature_tag, pushed.sbom.digest):
                # each is its own push and its own run: the signature and the SBOM come
                # after the image, and are copied once the image is at the peer
                path = f"/v2/apps/live/manifests/{reference}"
                _eventually(lambda path=path: _status(peer.url, path) == 200)
            assert_same_tree(peer.client(), "apps/live", pushed)
            stop_server(peer)  # the peer goes away: the next push's run fails, and is retried
            image = make_image(layers=1)
            push_image(client, "apps/live", image, "v2")
            _eventually(
                lambda: any(
                    r["trigger"] == "push" and r["state"] == "failed"
                    for r in api.ok("GET", "/replication/runs")["items"]
                )
            )
            peer = start_server(tmp_path / "peer", port=port, data_dir=peer.data_dir, env=delete)
            _eventually(lambda: _status(peer.url, "/v2/apps/live/manifests/v2") == 200)
            assert httpx.get(f"{peer.url}/v2/apps/live/manifests/{image.digest}").content == (
                image.manifest
            )
            deleted = client.delete(f"/v2/apps/live/manifests/{image.digest}")
            assert deleted.status_code == 202, deleted.text
            _eventually(lambda: _status(peer.url, "/v2/apps/live/manifests/v2") == 404)
            assert _status(peer.url, "/v2/apps/live/manifests/v1") == 200
            runs = api.ok("GET", "/replication/policies/live/runs")["items"]
            assert {r["trigger"] for r in runs} == {"push"}
    finally:
        stop_server(peer)


@pytest.fixture
def token_peer(tmp_path: Path) -> Iterator[RunningServer]:
    """A dockyard whose challenges name a token realm on another port (a second dockyard
    sharing its data directory issues the tokens)."""
    htpasswd = write_htpasswd(tmp_path / "htpasswd", USERS)
    realm_port = free_port()
    env = {
        "REGISTRY_AUTH": "htpasswd",
        "REGISTRY_AUTH_HTPASSWD_REALM": "peer",
        "REGISTRY_AUTH_HTPASSWD_PATH": str(htpasswd),
        "REGISTRY_DOCKYARD_TOKEN_ENABLED": "true",
        "REGISTRY_DOCKYARD_TOKEN_REALM": f"http://127.0.0.1:{realm_port}/token",
        "REGISTRY_STORAGE_DELETE_ENABLED": "true",
    }
    (tmp_path / "registry").mkdir()
    (tmp_path / "realm").mkdir()
    registry = start_server(tmp_path / "registry", env=env)
    try:
        with serving(tmp_path / "realm", env=env, data_dir=registry.data_dir, port=realm_port):
            yield registry
    finally:
        stop_server(registry)


def test_a_peer_with_a_token_realm_and_overwrite_off(
    source: RunningServer, token_peer: RunningServer
) -> None:
    with httpx.Client(base_url=source.url, auth=ADMIN, timeout=30) as client:
        pushed = push_signed_index(client, "apps/tok", "v1")
    with Api(source) as api:
        wrong = {"policy": {"name": "wrong", "url": token_peer.url, "repositories": ["apps/tok"]},
                 "credentials": {"username": "pusher", "password": "nope"}}  # fmt: skip
        api.ok("POST", "/replication/policies", 201, json=wrong)
        refused = wait_run(api, api.ok("POST", "/replication/policies/wrong/runs", 202)["id"])
        assert refused["run"]["state"] == "failed", refused
        assert [i["outcome"] for i in refused["items"]] == ["failed"]
        good = {"policy": {"name": "tok", "url": token_peer.url, "repositories": ["apps/tok"],
                           "overwrite": False},
                "credentials": {"username": "pusher", "password": USERS["pusher"]}}  # fmt: skip
        api.ok("POST", "/replication/policies", 201, json=good)
        done = wait_run(api, api.ok("POST", "/replication/policies/tok/runs", 202)["id"])
        assert done["run"]["state"] == "done", done
        with httpx.Client(base_url=source.url, auth=ADMIN, timeout=30) as client:
            push_image(client, "apps/tok", make_image(layers=1), "v1")  # the tag moves here
        kept = wait_run(api, api.ok("POST", "/replication/policies/tok/runs", 202)["id"])
    assert [i["outcome"] for i in kept["items"]] == ["skipped"]
    assert "overwrite is off" in kept["items"][0]["error"]
    token = httpx.get(token_peer.url + "/v2/", timeout=10)
    assert token.status_code == 401  # the peer does ask for a token
    assert "Bearer realm=" in token.headers["www-authenticate"]
    auth = ("pusher", USERS["pusher"])
    scope = {"service": "dockyard", "scope": "repository:apps/tok:pull"}
    realm = token.headers["www-authenticate"].split('realm="')[1].split('"')[0]
    issued = httpx.get(realm, params=scope, auth=auth, timeout=10).json()["token"]
    with httpx.Client(base_url=token_peer.url, timeout=30,
                      headers={"Authorization": f"Bearer {issued}"}) as client:  # fmt: skip
        assert_same_tree(client, "apps/tok", pushed)


def test_push_to_the_reference_registry_with_basic_auth(
    tmp_path: Path, source: RunningServer
) -> None:
    htpasswd = write_htpasswd(tmp_path / "htpasswd", USERS)
    with httpx.Client(base_url=source.url, auth=ADMIN, timeout=30) as client:
        pushed = push_signed_index(client, "apps/ref", "v1")
    registry = logged_registry(tmp_path / "root", tmp_path, htpasswd=htpasswd)
    with registry as reference, Api(source) as api:
        body = {"policy": {"name": "ref", "url": reference.url, "repositories": ["apps/ref"],
                           "chunk_bytes": 64 * 1024},
                "credentials": {"username": "pusher", "password": USERS["pusher"]}}  # fmt: skip
        api.ok("POST", "/replication/policies", 201, json=body)
        detail = wait_run(api, api.ok("POST", "/replication/policies/ref/runs", 202)["id"])
        anonymous = httpx.get(f"{reference.url}/v2/apps/ref/manifests/v1", timeout=10)
        auth = ("pusher", USERS["pusher"])
        with httpx.Client(base_url=reference.url, auth=auth, timeout=30) as client:
            assert_same_tree(client, "apps/ref", pushed)
    assert detail["run"]["state"] == "done", detail
    assert anonymous.status_code == 401  # the peer does ask for credentials
