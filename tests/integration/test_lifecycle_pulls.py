"""Pull times against a real server: GET and HEAD of a manifest are recorded without a write on
the request (in batches, and at shutdown), and "not pulled for" (retention, ``dockyard delete``)
plans the same in a dry run as in the real run."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import httpx

from support.oci import make_image, push_image
from support.server import DOCKYARD, RunningServer, free_port, serving, stop_server

IDLE = 10  # seconds: "not pulled for" in these tests
CONFIG = f"""
version: 0.1
dockyard:
  retention:
    grace: 0s
    pullflush: {{flush}}
    policies:
      - name: idle
        repositories: "ci/**"
        notpulledfor: {IDLE}s
"""
LINE = re.compile(r"^  (would delete|deleted|keep) (\S+@sha256:[0-9a-f]{64}) \(([^)]*)\): (.+)$")


def _cli(data_dir: Path, *args: str) -> str:
    config = ["--config", str(data_dir.parent / "config.yml"), "--data-dir", str(data_dir)]
    done = subprocess.run(
        [DOCKYARD, *args, *config], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _listed(output: str, verb: str) -> dict[str, tuple[str, str]]:
    found = (LINE.match(line) for line in output.splitlines())
    return {m.group(2): (m.group(3), m.group(4)) for m in found if m and m.group(1) == verb}


def _wait_idle(started: float) -> None:
    time.sleep(max(0.0, started + IDLE + 0.5 - time.monotonic()))


def test_pulls_recorded_at_shutdown_drive_retention(tmp_path: Path) -> None:
    with serving(tmp_path, config=CONFIG.format(flush="1h")) as server:
        with server.client() as client:
            images = {tag: make_image(layers=1) for tag in ("got", "headed", "idle")}
            for tag, image in images.items():
                push_image(client, "ci/app", image, tag=tag)
            pushed = time.monotonic()
            _wait_idle(pushed)
            assert client.get("/v2/ci/app/manifests/got").status_code == 200
            assert client.head(f"/v2/ci/app/manifests/{images['headed'].digest}").status_code == 200
            unflushed = _cli(server.data_dir, "retention", "run", "--dry-run")
            assert len(_listed(unflushed, "would delete")) == 3, "no write on the request path"
        stop_server(server)  # only the shutdown flush writes them (pullflush: 1h)
        dry = _cli(server.data_dir, "retention", "run", "--dry-run", "--verbose")
        real = _cli(server.data_dir, "retention", "run")
    idle = f"ci/app@{images['idle'].digest}"
    planned = _listed(dry, "would delete")
    assert set(planned) == {idle}, dry
    assert planned[idle][1].startswith("not pulled since its push "), planned
    kept = _listed(dry, "keep")
    assert {tags for tags, _ in kept.values()} == {"got", "headed"}, dry
    assert all(why.startswith("pulled ") for _, why in kept.values()), kept
    assert _listed(real, "deleted") == planned, (dry, real)


def test_pulls_are_flushed_while_serving(tmp_path: Path) -> None:
    debug = free_port()
    env = {"REGISTRY_HTTP_DEBUG_ADDR": f"127.0.0.1:{debug}"}
    flushing = CONFIG.format(flush="200ms")
    with serving(tmp_path, config=flushing, env=env) as server, server.client() as client:
        used, unused = make_image(layers=1), make_image(layers=1)
        push_image(client, "ci/tool", used, tag="used")
        push_image(client, "ci/tool", unused, tag="unused")
        _wait_idle(time.monotonic())
        for _ in range(50):
            assert client.get("/v2/ci/tool/manifests/used").status_code == 200
        _wait_for_metric(debug, re.compile(r"^registry_pulls_recorded_total [1-9]", re.M))
        selection = ("--repo", "ci/*", "--not-pulled-for", f"{IDLE}s", "--grace", "0s")
        preview = _delete(server, *selection, "--dry-run")
        done = _delete(server, *selection, "--yes")
        assert client.get("/v2/ci/tool/tags/list").json()["tags"] == ["used"]
    assert f"would delete ci/tool@{unused.digest} (unused)" in preview, preview
    assert "not pulled since its push" in preview
    assert f"deleted ci/tool@{unused.digest} (unused)" in done and "1 manifests" in done


def _delete(server: RunningServer, *args: str) -> str:
    return _cli(server.data_dir, "delete", *args)


def _wait_for_metric(port: int, line: re.Pattern[str]) -> None:
    deadline = time.monotonic() + 10
    while not line.search(text := httpx.get(f"http://127.0.0.1:{port}/metrics").text):
        assert time.monotonic() < deadline, text[-2000:]
        time.sleep(0.1)
