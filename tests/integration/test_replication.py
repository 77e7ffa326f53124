"""Replication against real peers on loopback: a second dockyard (anonymous), Debian's
docker-registry; pushes and pulls of a multi-arch image with a cosign signature tag and an
SBOM referrer, byte-identical at the target; filters; dry runs; the management API's refusals."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.identity import ADMIN, Api, identity_server
from support.oci import assert_oci_error
from support.replication import assert_same_tree, push_signed_index, wait_run
from support.server import RunningServer, serving

LOOPBACK = {"REGISTRY_DOCKYARD_OUTBOUND_ALLOWED": "[127.0.0.0/8]"}


@pytest.fixture
def source(tmp_path: Path) -> Iterator[RunningServer]:
    (tmp_path / "source").mkdir()
    with identity_server(tmp_path / "source", **LOOPBACK) as running, Api(running) as admin:
        admin.project("apps")
        yield running


@pytest.fixture
def peer(tmp_path: Path) -> Iterator[RunningServer]:
    (tmp_path / "peer").mkdir()
    with serving(tmp_path / "peer") as running:
        yield running


def policy(name: str, url: str, **fields: Any) -> dict[str, Any]:
    return {"policy": {"name": name, "url": url, **fields}}


def test_push_a_signed_multi_arch_image_byte_identical(
    source: RunningServer, peer: RunningServer
) -> None:
    with httpx.Client(base_url=source.url, auth=ADMIN, timeout=30) as client:
        pushed = push_signed_index(client, "apps/web", "v1.2.0")
        push_signed_index(client, "apps/web", "v2.0.0")  # outside the semver range
    with Api(source) as api:
        api.ok("POST", "/replication/policies", 201, json=policy(
            "to-peer", peer.url, repositories=["apps/*"], tags=["semver:^1"], prefix="copy"))
        run = api.ok("POST", "/replication/policies/to-peer/runs", 202)
        detail = wait_run(api, run["id"])
    assert detail["run"]["state"] == "done", detail
    items = detail["items"]
    assert [(i["source"], i["target"], i["outcome"]) for i in items] == [
        ("apps/web:v1.2.0", "copy/apps/web:v1.2.0", "copied")
    ]
    assert items[0]["digest"] == pushed.digest
    with peer.client() as client:
        assert_same_tree(client, "copy/apps/web", pushed)
        tags = client.get("/v2/copy/apps/web/tags/list").json()["tags"]
        assert "v2.0.0" not in tags
        referrers = client.get(f"/v2/copy/apps/web/referrers/{pushed.digest}").json()
        assert [m["digest"] for m in referrers["manifests"]] == [pushed.sbom.digest]
    with Api(source) as api:  # a second run finds everything there
        again = wait_run(api, api.ok("POST", "/replication/policies/to-peer/runs", 202)["id"])
    assert [i["outcome"] for i in again["items"]] == ["skipped"]
