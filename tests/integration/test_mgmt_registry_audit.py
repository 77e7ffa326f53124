"""Pushes, pulls and deletes in the audit log, against a real server with identity on: who,
which repository and reference, from where, the outcome; through ``GET /api/v1/audit``, the
Prometheus metrics and ``dockyard audit export``. Events are written in the background, so
the tests wait until they appear. With ``auditpulls: false`` pulls are not recorded."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.identity import ADMIN, Api, cli, identity_env, identity_server
from support.oci import assert_oci_error, make_image, push_image, sha256
from support.server import RunningServer, free_port


@pytest.fixture(scope="module")
def debug_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, debug_port: int) -> Iterator[RunningServer]:
    workdir = tmp_path_factory.mktemp("registry-audit")
    with identity_server(workdir, REGISTRY_HTTP_DEBUG_ADDR=f"127.0.0.1:{debug_port}") as running:
        with Api(running) as admin:
            admin.user("alice", "alice-password")
            admin.user("mallory", "mallory-password")
            admin.project("team")
            admin.project("pub", public=True)
            admin.member("team", "alice", "maintainer")
            admin.member("pub", "alice", "developer")
        yield running


def wait_for(admin: Api, predicate: Callable[[list[dict[str, Any]]], bool],
             **query: str) -> list[dict[str, Any]]:  # fmt: skip
    deadline = time.monotonic() + 15
    while True:
        items: list[dict[str, Any]] = admin.ok("GET", "/audit", params=query)["items"]
        if predicate(items) or time.monotonic() > deadline:
            return items
        time.sleep(0.1)


def test_push_pull_and_deletes_are_audited(server: RunningServer) -> None:
    image = make_image(layers=1)
    with server.client(auth=("alice", "alice-password")) as alice:
        push_image(alice, "team/app", image, tag="v1")
        assert alice.get("/v2/team/app/manifests/v1").status_code == 200
        assert alice.head("/v2/team/app/manifests/v1").status_code == 200  # not a pull
        assert alice.get(f"/v2/team/app/blobs/{sha256(image.layers[0])}").status_code == 200
        assert alice.delete("/v2/team/app/manifests/v1").status_code == 202
        assert alice.delete(f"/v2/team/app/manifests/{image.digest}").status_code == 202
        assert alice.delete(f"/v2/team/app/blobs/{sha256(image.config)}").status_code == 202
    with Api(server) as admin:
        target = {"target": "repository:team/app"}
        items = wait_for(admin, lambda found: len(found) >= 5, **target)
        events = [(e["event"], e["actor"], e["actor_kind"], e["outcome"]) for e in items]
        assert events == [
            ("blob.delete", "alice", "user", "success"),
            ("manifest.delete", "alice", "user", "success"),
            ("tag.delete", "alice", "user", "success"),
            ("manifest.pull", "alice", "user", "success"),
            ("manifest.push", "alice", "user", "success"),
        ]  # newest first; the blob GET and the manifest HEAD are not audited
        push, pull = items[4], items[3]
        assert push["client"] == "127.0.0.1" and push["detail"]["tag"] == "v1"
        assert push["detail"]["digest"] == image.digest and push["detail"]["status"] == 201
        assert pull["detail"] == {**pull["detail"], "tag": "v1", "digest": image.digest}
        assert items[1]["detail"]["digest"] == image.digest
        assert items[0]["detail"]["digest"] == sha256(image.config)
        prefix = admin.ok("GET", "/audit", params={"event": "manifest.", **target})["items"]
        assert {e["event"] for e in prefix} == {"manifest.push", "manifest.pull", "manifest.delete"}


def test_refusals_and_anonymous_pulls(server: RunningServer) -> None:
    with server.client(auth=("alice", "alice-password")) as alice:
        push_image(alice, "pub/tool", make_image(layers=1), tag="latest")
        push_image(alice, "team/secret", make_image(layers=1), tag="v1")
    with server.client(auth=("mallory", "mallory-password")) as mallory:
        assert_oci_error(mallory.get("/v2/team/secret/manifests/v1"), 403, "DENIED")
        assert_oci_error(mallory.delete("/v2/pub/tool/manifests/latest"), 403, "DENIED")
    with server.client() as anonymous:
        assert anonymous.get("/v2/pub/tool/manifests/latest").status_code == 200
        assert anonymous.get("/v2/team/secret/manifests/v1").status_code == 401  # not recorded
    with Api(server) as admin:

        def registry(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [e for e in found if e["event"] != "login"]

        refused = registry(wait_for(admin, lambda found: len(registry(found)) >= 2,
                                    actor="mallory"))  # fmt: skip
        outcomes = [(e["event"], e["target"], e["outcome"], e["detail"]["status"]) for e in refused]
        assert outcomes == [
            ("tag.delete", "repository:pub/tool", "failure", 403),
            ("manifest.pull", "repository:team/secret", "failure", 403),
        ]
        query = {"event": "manifest.pull", "target": "repository:pub/tool"}
        pulls = wait_for(admin, lambda found: len(found) >= 1, **query)
        assert [(e["actor"], e["actor_kind"]) for e in pulls] == [("", "anonymous")]
        secret = admin.ok("GET", "/audit", params={"target": "repository:team/secret"})["items"]
        assert all(e["actor"] != "" for e in secret)  # the 401 challenge is not an event


def test_metrics_and_export(server: RunningServer, debug_port: int) -> None:
    with server.client(auth=("alice", "alice-password")) as alice:
        push_image(alice, "team/exported", make_image(layers=1), tag="v2")
    with Api(server) as admin:
        wait_for(admin, lambda found: len(found) >= 1, target="repository:team/exported")
    metrics = httpx.get(f"http://127.0.0.1:{debug_port}/metrics").text
    written = [line for line in metrics.splitlines()
               if line.startswith("registry_audit_events_written_total ")]  # fmt: skip
    assert written and float(written[0].split()[1]) >= 1
    assert "registry_audit_events_dropped_total 0.0" in metrics
    lines = cli(server.data_dir, identity_env(), "audit", "export", "--event", "manifest.push")
    exported = [json.loads(line) for line in lines.splitlines()]
    assert "repository:team/exported" in [e["target"] for e in exported]
    assert all(e["event"] == "manifest.push" for e in exported)


def test_pull_auditing_can_be_switched_off(tmp_path: Path) -> None:
    with identity_server(tmp_path, REGISTRY_DOCKYARD_IDENTITY_AUDITPULLS="false") as quiet:
        with quiet.client(auth=ADMIN) as admin_client:
            push_image(admin_client, "solo/app", make_image(layers=1), tag="v1")
            assert admin_client.get("/v2/solo/app/manifests/v1").status_code == 200
            push_image(admin_client, "solo/app", make_image(layers=1), tag="v2")
        with Api(quiet) as admin:
            # Events are written in order: once the later push is there, a pull would be too.
            items = wait_for(admin, lambda found: len(found) >= 2, target="repository:solo/app")
            assert [e["event"] for e in items] == ["manifest.push", "manifest.push"]
