"""Retention against a real server: the dry run lists exactly what the real run deletes."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import httpx

from support.oci import OCI_INDEX, descriptor, make_image, make_index, push_image
from support.server import DOCKYARD, RunningServer, free_port, serving

CONFIG = """
version: 0.1
dockyard:
  immutability:
    rules:
      - repositories: "ci/**"
        tags: "release-*"
  retention:
    grace: 0s
    policies:
      - name: ci-builds
        repositories: "ci/**"
        keeplast: 2
        keeptags: ["v*"]
        untagged: true
"""
LINE = re.compile(r"^  (would delete|deleted) (\S+@sha256:[0-9a-f]{64}) \(([^)]*)\): (.+)$")


def _retention(server: RunningServer, *args: str) -> str:
    config = ["--config", str(server.data_dir.parent / "config.yml")]
    command = [DOCKYARD, "retention", *args, *config, "--data-dir", str(server.data_dir)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _listed(output: str) -> dict[str, tuple[str, str]]:
    found = (LINE.match(line) for line in output.splitlines())
    return {m.group(2): (m.group(3), m.group(4)) for m in found if m}


def _put(client: httpx.Client, repo: str, reference: str, body: bytes, media_type: str) -> None:
    response = client.put(
        f"/v2/{repo}/manifests/{reference}", content=body, headers={"Content-Type": media_type}
    )
    assert response.status_code == 201, response.text


def test_retention_dry_run_matches_the_real_run(tmp_path: Path) -> None:
    with serving(tmp_path, config=CONFIG) as server, server.client() as client:
        arm, amd = make_image(layers=1), make_image(layers=1)
        for child in (arm, amd):
            push_image(client, "ci/app", child)
        index = make_index([arm, amd])
        _put(client, "ci/app", "build-0", index, OCI_INDEX)
        signature = make_image(layers=1, subject=descriptor(index, OCI_INDEX))
        push_image(client, "ci/app", signature)
        builds = [make_image(layers=1) for _ in range(4)]
        for number, image in enumerate(builds, start=1):
            push_image(client, "ci/app", image, tag=f"build-{number}")
        for tag in ("v1.0", "release-1"):
            push_image(client, "ci/app", make_image(layers=1), tag=tag)
        push_image(client, "ci/app", make_image(layers=1))  # untagged
        untouched = make_image(layers=1)
        push_image(client, "prod/app", untouched, tag="build-1")

        preview = _listed(_retention(server, "run", "--dry-run"))
        assert "policy ci-builds:" in _retention(server, "run", "--dry-run", "--verbose")
        real_output = _retention(server, "run")
        deleted = _listed(real_output)
        assert deleted == preview, (preview, deleted)
        assert {tags for tags, _ in deleted.values()} == {
            "build-0", "build-1", "build-2", "untagged",
        }  # fmt: skip
        reasons = {reason for _, reason in deleted.values()}
        assert any(r.startswith("belongs to deleted sha256:") for r in reasons)
        assert len(deleted) == 7, "the index, its 2 children and signature, 2 builds, 1 untagged"

        for reference in ("build-0", "build-1", "build-2", arm.digest, signature.digest):
            assert client.get(f"/v2/ci/app/manifests/{reference}").status_code == 404
        for tag in ("build-3", "build-4", "v1.0", "release-1"):
            assert client.get(f"/v2/ci/app/manifests/{tag}").status_code == 200
        assert client.get("/v2/prod/app/manifests/build-1").content == untouched.manifest
        history = _retention(server, "history", "--repository", "ci/app")
        assert len(history.splitlines()) == 7 and "\tci-builds\t" in history
        assert "deleted 0 manifests" in _retention(server, "run")


def test_scheduled_retention_runs_inside_the_server(tmp_path: Path) -> None:
    debug = free_port()
    config = CONFIG.replace("    grace: 0s\n", "    grace: 0s\n    interval: 1s\n")
    env = {"REGISTRY_HTTP_DEBUG_ADDR": f"127.0.0.1:{debug}"}
    with serving(tmp_path, config=config, env=env) as server, server.client() as client:
        for number in range(4):
            push_image(client, "ci/tool", make_image(layers=1), tag=f"n{number}")
        deadline = time.monotonic() + 15
        while client.get("/v2/ci/tool/tags/list").json()["tags"] != ["n2", "n3"]:
            assert time.monotonic() < deadline, server.log()[-3000:]
            time.sleep(0.3)
        metrics = httpx.get(f"http://127.0.0.1:{debug}/metrics").text
        assert 'registry_retention_manifests_deleted_total{policy="ci-builds"} 2.0' in metrics
        assert "retention: deleted ci/tool@sha256:" in server.log()
