"""Pushes, pulls and deletes in the audit log, against a real server with identity on: made
from the domain events by the audit log's outbox consumer (who, which repository and
reference, the outcome), refused actions recorded by the access policy; through
``GET /api/v1/audit``, the Prometheus metrics and ``dockyard audit export``. Entries are
written in the background, so the tests wait until they appear. With ``auditpulls: false``
pulls are not recorded."""

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
    with identity_server(
        workdir, REGISTRY_HTTP_DEBUG_ADDR=f"127.0.0.1:{debug_port}", **FAST_PULL_FLUSH
    ) as running:
        with Api(running) as admin:
            admin.user("alice", "alice-password")
            admin.user("mallory", "mallory-password")
            admin.project("team")
            admin.project("pub", public=True)
            admin.member("team", "alice", "maintainer")
            admin.member("pub", "alice", "developer")
        yield running


FAST_PULL_FLUSH = {"REGISTRY_DOCKYARD_RETENTION_PULLFLUSH": "0.2s"}


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
        # a pull's entry is written when the pull times are flushed, so it may come after
        # the deletions in the log's own order: compare by event
        events = sorted((e["event"], e["actor"], e["actor_kind"], e["outcome"]) for e in items)
        assert events == [
            ("blob.delete", "alice", "user", "success"),
            ("manifest.delete", "alice", "user", "success"),
            ("manifest.pull", "alice", "user", "success"),
            ("manifest.push", "alice", "user", "success"),
            ("tag.delete", "alice", "user", "success"),
        ]  # the blob GET, the uploads and the manifest HEAD are not audited
        by_event = {e["event"]: e for e in items}
        push, pull = by_event["manifest.push"], by_event["manifest.pull"]
        assert push["detail"]["tag"] == "v1" and push["detail"]["digest"] == image.digest
        assert push["detail"]["request_id"] and push["client"] == "127.0.0.1"
        assert pull["detail"] == {**pull["detail"], "tag": "v1", "digest": image.digest}
        assert pull["detail"]["count"] == 1
        assert by_event["manifest.delete"]["detail"]["digest"] == image.digest
        assert by_event["tag.delete"]["detail"]["tag"] == "v1"
        assert by_event["blob.delete"]["detail"]["digest"] == sha256(image.config)
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
        outcomes = [(e["event"], e["target"], e["outcome"], e["detail"]["action"],
                     e["detail"]["status"], e["client"]) for e in refused]  # fmt: skip
        assert outcomes == [
            ("access.denied", "repository:pub/tool", "failure", "delete_tag", 403, "127.0.0.1"),
            ("access.denied", "repository:team/secret", "failure", "pull", 403, "127.0.0.1"),
        ]  # recorded by the access policy where it refused, newest first
        query = {"event": "manifest.pull", "target": "repository:pub/tool"}
        pulls = wait_for(admin, lambda found: len(found) >= 1, **query)
        assert [(e["actor"], e["actor_kind"]) for e in pulls] == [("", "anonymous")]
        secret = admin.ok("GET", "/audit", params={"target": "repository:team/secret"})["items"]
        assert all(e["actor"] != "" for e in secret)  # the 401 challenge is not an event


def test_metrics_and_export(server: RunningServer, debug_port: int) -> None:
    image = make_image(layers=1)
    with server.client(auth=("alice", "alice-password")) as alice:
        push_image(alice, "team/exported", image, tag="v2")
        for _ in range(3):
            assert alice.get("/v2/team/exported/manifests/v2").status_code == 200
        assert alice.delete(f"/v2/team/exported/manifests/{image.digest}").status_code == 202

    def complete(found: list[dict[str, Any]]) -> bool:
        pulls = sum(e["detail"]["count"] for e in found if e["event"] == "manifest.pull")
        return pulls == 3 and "manifest.delete" in {e["event"] for e in found}

    with Api(server) as admin:
        wait_for(admin, complete, target="repository:team/exported")
    everything = cli(server.data_dir, identity_env(), "audit", "export", "--event", "manifest.")
    mine = [e for e in map(json.loads, everything.splitlines())
            if e["target"] == "repository:team/exported"]  # fmt: skip
    assert {e["event"] for e in mine} == {"manifest.delete", "manifest.pull", "manifest.push"}
    pulls = [e["detail"]["count"] for e in mine if e["event"] == "manifest.pull"]
    assert sum(pulls) == 3 and len(pulls) <= 3  # coalesced per flush (0.2 s here)
    metrics = httpx.get(f"http://127.0.0.1:{debug_port}/metrics").text
    written = [line for line in metrics.splitlines()
               if line.startswith("registry_audit_events_written_total ")]  # fmt: skip
    assert written and float(written[0].split()[1]) >= 1
    assert "registry_audit_events_dropped_total 0.0" in metrics
    lines = cli(server.data_dir, identity_env(), "audit", "export", "--event", "manifest.push")
    exported = [json.loads(line) for line in lines.splitlines()]
    assert "repository:team/exported" in [e["target"] for e in exported]
    assert all(e["event"] == "manifest.push" for e in exported)


def outbox_kinds(server: RunningServer) -> list[str]:
    lines = cli(server.data_dir, identity_env(), "events", "list", "--limit", "1000")
    return [json.loads(line)["event"]["kind"] for line in lines.splitlines()]


def test_pull_auditing_can_be_switched_off(tmp_path: Path) -> None:
    quiet_env = {"REGISTRY_DOCKYARD_IDENTITY_AUDITPULLS": "false", **FAST_PULL_FLUSH}
    with identity_server(tmp_path, **quiet_env) as quiet:
        with quiet.client(auth=ADMIN) as admin_client:
            push_image(admin_client, "solo/app", make_image(layers=1), tag="v1")
            assert admin_client.get("/v2/solo/app/manifests/v1").status_code == 200
            deadline = time.monotonic() + 15
            while "manifest.pulled" not in outbox_kinds(quiet) and time.monotonic() < deadline:
                time.sleep(0.1)  # the pull event is in the outbox, before the next push
            assert "manifest.pulled" in outbox_kinds(quiet)
            push_image(admin_client, "solo/app", make_image(layers=1), tag="v2")
        with Api(quiet) as admin:
            # The consumer reads in order: once the later push is there, a pull would be too.
            items = wait_for(admin, lambda found: len(found) >= 2, target="repository:solo/app")
            assert [e["event"] for e in items] == ["manifest.push", "manifest.push"]
