"""Domain events through a real server: raw HTTP pushes, a refused push, a mount and deletions
leave exactly the expected events in the outbox, read back with ``dockyard events list``."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from e2e.clientkit import Clients, OciLayout
from e2e.clientkit import make_image as make_layout_image
from support import postgres
from support.oci import (
    OCI_INDEX,
    assert_oci_error,
    make_image,
    make_index,
    push_blob,
    push_image,
    sha256,
)
from support.server import DOCKYARD, RunningServer, serving

CONFIG = """
version: 0.1
storage:
  delete:
    enabled: true
dockyard:
  immutability:
    rules:
      - repositories: "prod/**"
        tags: "v*"
"""


def _htpasswd(path: Path) -> dict[str, str]:
    line = subprocess.run(
        ["htpasswd", "-Bbn", "alice", "s3cret"], check=True, capture_output=True, text=True
    ).stdout
    path.write_text(line.strip() + "\n")
    return {"REGISTRY_AUTH": "htpasswd", "REGISTRY_AUTH_HTPASSWD_PATH": str(path)}


@pytest.fixture(params=["sqlite", "postgres"])
def database_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """The server's (and the CLI's) metadata database: SQLite in the data directory, or a
    fresh database on the session's real PostgreSQL."""
    if request.param == "sqlite":
        return {}
    if not postgres.available():
        pytest.skip("PostgreSQL not installed")
    return {"REGISTRY_DOCKYARD_DATABASE": postgres.shared_server().create_database("events")}


def events_cli(
    data_dir: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    command = [DOCKYARD, "events", "list", "--data-dir", str(data_dir), *args]
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    full_env.update(env or {})
    return subprocess.run(
        command, capture_output=True, text=True, timeout=60, check=False, env=full_env
    )


def listed(server: RunningServer, env: dict[str, str], *args: str) -> list[dict[str, Any]]:
    result = events_cli(server.data_dir, *args, env=env)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def summary(entries: list[dict[str, Any]]) -> list[tuple[str, str, str, tuple[str, ...]]]:
    return [
        (
            e["event"]["kind"],
            e["event"]["repository"],
            e["event"]["target"]["digest"],
            tuple(e["event"]["target"].get("tags", ())),
        )
        for e in entries
    ]


def _use_request_id(client: httpx.Client, request_id: str) -> None:
    client.headers["X-Request-Id"] = request_id


def test_raw_http_pushes_and_deletions_produce_exactly_their_events(
    tmp_path: Path, database_env: dict[str, str]
) -> None:
    env = _htpasswd(tmp_path / "htpasswd") | database_env
    image, other = make_image(layers=1), make_image(layers=1)
    amd64, arm64 = make_image(layers=1), make_image(layers=1)
    index = make_index([amd64, arm64])
    index_digest = sha256(index)
    with (
        serving(tmp_path, config=CONFIG, env=env) as server,
        server.client(auth=("alice", "s3cret")) as client,
    ):
        _use_request_id(client, "push-v1")
        push_image(client, "prod/app", image, tag="v1")
        _use_request_id(client, "refused")
        for blob in [other.config, *other.layers]:
            push_blob(client, "prod/app", blob)
        refused = client.put(
            "/v2/prod/app/manifests/v1",
            content=other.manifest,
            headers={"Content-Type": other.media_type},
        )
        assert_oci_error(refused, 403, "DENIED")
        _use_request_id(client, "index")
        push_image(client, "prod/multi", amd64)
        push_image(client, "prod/multi", arm64)
        put = client.put(
            "/v2/prod/multi/manifests/latest",
            params={"tag": "extra"},
            content=index,
            headers={"Content-Type": OCI_INDEX},
        )
        assert put.status_code == 201, put.text
        layer = sha256(image.layers[0])
        mounted = client.post(
            "/v2/team/copy/blobs/uploads/", params={"mount": layer, "from": "prod/app"}
        )
        assert mounted.status_code == 201, mounted.text
        _use_request_id(client, "cleanup")
        assert client.delete("/v2/prod/multi/manifests/extra").status_code == 202
        assert client.delete(f"/v2/prod/multi/manifests/{index_digest}").status_code == 202
        assert client.delete(f"/v2/team/copy/blobs/{layer}").status_code == 202
        every = listed(server, database_env)
        uploads = [e for e in every if e["event"]["kind"] == "blob.pushed"]
        entries = [e for e in every if e["event"]["kind"] != "blob.pushed"]
        uploaded = [image, other, amd64, arm64]
        assert sorted(e["event"]["target"]["digest"] for e in uploads) == sorted(
            sha256(blob) for pushed in uploaded for blob in [pushed.config, *pushed.layers]
        ), "one blob.pushed per upload, the refused push's blobs too (they were stored)"
        assert summary(entries) == [
            ("manifest.pushed", "prod/app", image.digest, ("v1",)),
            ("manifest.pushed", "prod/multi", amd64.digest, ()),
            ("manifest.pushed", "prod/multi", arm64.digest, ()),
            ("manifest.pushed", "prod/multi", index_digest, ("latest", "extra")),
            ("blob.mounted", "team/copy", layer, ()),
            ("tag.deleted", "prod/multi", index_digest, ("extra",)),
            ("manifest.deleted", "prod/multi", index_digest, ("latest",)),
            ("blob.deleted", "team/copy", layer, ()),
        ]
        events = [e["event"] for e in entries]
        assert {e["actor"] for e in events} == {"alice"}
        assert [e["request_id"] for e in events] == ["push-v1"] + ["index"] * 4 + ["cleanup"] * 3
        assert events[3]["target"]["children"] == [amd64.digest, arm64.digest]
        assert events[3]["target"]["media_type"] == OCI_INDEX
        assert events[3]["target"]["size"] == len(index)
        assert events[4]["target"]["source"] == "prod/app"
        sequences = [e["sequence"] for e in every]
        assert sequences == sorted(sequences)
        page = listed(server, database_env, "--after", str(sequences[2]), "--limit", "2")
        assert [e["sequence"] for e in page] == sequences[3:5]
        assert listed(server, database_env, "--after", str(sequences[-1])) == []


def test_skopeo_push_and_copy_between_repositories(tmp_path: Path) -> None:
    """skopeo pushes one image (its blobs' uploads, then its manifest), then copies it to
    another repository of the same registry, mounting blobs (one event each, none twice) and
    pushing the manifest again."""
    layout = OciLayout(tmp_path / "layout")
    image = make_layout_image([{"a.txt": b"one"}, {"b.txt": b"two"}])
    layout.add_image(image, "first")
    clients = Clients(tmp_path / "clients")
    with serving(tmp_path) as server:
        source = f"docker://127.0.0.1:{server.port}/team/app:1.0"
        copy = f"docker://127.0.0.1:{server.port}/team/copy:1.0"
        flags = ["--dest-tls-verify=false"]
        clients.skopeo("copy", *flags, f"oci:{layout.path}:first", source)
        clients.skopeo("copy", "--src-tls-verify=false", *flags, source, copy)
        every = listed(server, {})
    blobs = {sha256(blob) for blob in image.blobs}
    uploads = [e["event"] for e in every if e["event"]["kind"] == "blob.pushed"]
    first_push = [e for e in uploads if e["repository"] == "team/app"]
    assert {e["target"]["digest"] for e in first_push} == blobs  # a retried upload: once more
    # skopeo's GETs of the source manifest are manifest.pulled events, stored when the pull
    # times are flushed (every 5 s): wherever they fall, they are not what this test counts
    entries = [e for e in every if e["event"]["kind"] not in ("blob.pushed", "manifest.pulled")]
    assert summary(entries[:1]) == [("manifest.pushed", "team/app", image.digest, ("1.0",))]
    mounts = entries[1:-1]  # skopeo mounts the blobs it knows are there (it may upload some)
    mounted = [e["event"]["target"]["digest"] for e in mounts]
    assert mounted and set(mounted) <= blobs and len(set(mounted)) == len(mounted)
    assert {(e["event"]["kind"], e["event"]["target"]["source"]) for e in mounts} == {
        ("blob.mounted", "team/app")
    }
    assert summary(entries[-1:]) == [("manifest.pushed", "team/copy", image.digest, ("1.0",))]
    assert {e["event"].get("actor") for e in every} == {None}, "anonymous pushes"


def test_events_list_refuses_a_missing_data_directory_and_bad_paging(tmp_path: Path) -> None:
    missing = events_cli(tmp_path / "nowhere")
    assert missing.returncode == 1
    assert "does not exist" in missing.stderr
    assert not (tmp_path / "nowhere").exists()
    (tmp_path / "data").mkdir()
    bad = events_cli(tmp_path / "data", "--limit", "0")
    assert bad.returncode == 1 and "--limit" in bad.stderr
    empty = events_cli(tmp_path / "data")
    assert empty.returncode == 0 and empty.stdout == ""
