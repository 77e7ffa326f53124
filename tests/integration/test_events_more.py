"""The remaining domain events through a real server (SQLite and a real PostgreSQL), read with
``dockyard events list``: many manifest GETs are one ``manifest.pulled`` event per
(repository, digest, actor) and flush, HEADs none; a push that moves a tag names the digest
it left; blob uploads are ``blob.pushed``; a push past the project's quota is a
``quota.exceeded`` event and stores nothing, one that crosses the warning threshold a
``quota.warning``."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from integration.test_events_outbox import listed
from support import postgres
from support.oci import assert_oci_error, make_image, push_blob, push_image, sha256
from support.server import serving

CONFIG = """
version: 0.1
storage:
  delete:
    enabled: true
dockyard:
  retention:
    pullflush: 1h
  quotas:
    projects:
      small: "10000"
"""


def _htpasswd(path: Path) -> dict[str, str]:
    lines = [
        subprocess.run(["htpasswd", "-Bbn", user, "s3cret"], check=True, capture_output=True,
                       text=True).stdout.strip()
        for user in ("alice", "bob")
    ]  # fmt: skip
    path.write_text("\n".join(lines) + "\n")
    return {"REGISTRY_AUTH": "htpasswd", "REGISTRY_AUTH_HTPASSWD_PATH": str(path)}


@pytest.fixture(params=["sqlite", "postgres"])
def database_env(request: pytest.FixtureRequest) -> dict[str, str]:
    if request.param == "sqlite":
        return {}
    if not postgres.available():
        pytest.skip("PostgreSQL not installed")
    return {"REGISTRY_DOCKYARD_DATABASE": postgres.shared_server().create_database("events2")}


def _kind(entries: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e["event"] for e in entries if e["event"]["kind"] == kind]


def test_many_pulls_are_coalesced_per_actor_and_flush(
    tmp_path: Path, database_env: dict[str, str]
) -> None:
    env = _htpasswd(tmp_path / "htpasswd") | database_env
    image = make_image(layers=1)
    with serving(tmp_path, config=CONFIG, env=env) as server:
        with server.client(auth=("alice", "s3cret")) as alice:
            push_image(alice, "team/app", image, tag="v1")
            for _ in range(30):
                assert alice.get("/v2/team/app/manifests/v1").status_code == 200
            for _ in range(10):
                assert alice.head("/v2/team/app/manifests/v1").status_code == 200
        with server.client(auth=("bob", "s3cret")) as bob:
            for _ in range(20):
                assert bob.get(f"/v2/team/app/manifests/{image.digest}").status_code == 200
            assert bob.get(f"/v2/team/app/blobs/{sha256(image.layers[0])}").status_code == 200
        assert _kind(listed(server, database_env), "manifest.pulled") == []  # not yet flushed
    entries = listed(server, database_env)  # the server flushed its pulls when it stopped
    pulls = {e["actor"]: e for e in _kind(entries, "manifest.pulled")}
    assert set(pulls) == {"alice", "bob"}
    assert (pulls["alice"]["target"]["count"], pulls["alice"]["target"]["tags"]) == (30, ["v1"])
    assert pulls["bob"]["target"]["count"] == 20 and "tags" not in pulls["bob"]["target"]
    assert {p["target"]["digest"] for p in pulls.values()} == {image.digest}
    assert all(p["repository"] == "team/app" and p["request_id"] for p in pulls.values())


def test_tag_moves_blob_pushes_and_quota_events(
    tmp_path: Path, database_env: dict[str, str]
) -> None:
    env = _htpasswd(tmp_path / "htpasswd") | database_env
    first, second = make_image(layers=1), make_image(layers=1)
    with serving(tmp_path, config=CONFIG, env=env) as server:
        with server.client(auth=("alice", "s3cret")) as alice:
            push_image(alice, "team/app", first, tag="v1")
            push_image(alice, "team/app", second, tag="v1")
            push_blob(alice, "small/app", b"w" * 8500)  # 85% of 10000: the warning
            refused = alice.post(
                "/v2/small/app/blobs/uploads/",
                params={"digest": sha256(b"x" * 3000)},
                content=b"x" * 3000,
                headers={"Content-Type": "application/octet-stream"},
            )
            assert_oci_error(refused, 403, "DENIED")
        entries = listed(server, database_env)
    pushes = _kind(entries, "manifest.pushed")
    assert [p["target"].get("previous", {}) for p in pushes] == [{}, {"v1": first.digest}]
    uploaded = {e["target"]["digest"] for e in _kind(entries, "blob.pushed")}
    assert sha256(first.config) in uploaded and sha256(b"w" * 8500) in uploaded
    assert sha256(b"x" * 3000) not in uploaded, "a refused upload stores no blob and no event"
    (warning,) = _kind(entries, "quota.warning")
    assert (warning["repository"], warning["target"]["project"]) == ("", "small")
    assert warning["actor"] == "alice" and warning["target"]["detail"]["limit"] == 10000
    (exceeded,) = _kind(entries, "quota.exceeded")
    assert (exceeded["repository"], exceeded["target"]["project"]) == ("small/app", "small")
    assert exceeded["actor"] == "alice" and exceeded["request_id"]
