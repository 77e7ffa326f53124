"""A replication run killed half-way (SIGKILL of the worker process copying) continues on
another worker once the lease lapses, resuming the peer's uploads where they stopped; the
result is byte-identical. Stopping a run stops its copies."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from e2e.clientkit import access_log
from support.identity import ADMIN, Api, cli, identity_env
from support.replication import assert_same_tree, push_signed_index, wait_run
from support.server import RunningServer, serving
from support.workers import start_worker, stop_worker, working

MIB = 1024 * 1024


@pytest.fixture
def env() -> dict[str, str]:
    return identity_env(
        REGISTRY_DOCKYARD_OUTBOUND_ALLOWED="[127.0.0.0/8]",
        REGISTRY_DOCKYARD_JOBS_RUNINSERVE="false",  # copies run in the workers only
        REGISTRY_DOCKYARD_JOBS_LEASE="2s",
        REGISTRY_DOCKYARD_JOBS_POLL="200ms",
    )


@pytest.fixture
def source(tmp_path: Path, env: dict[str, str]) -> Iterator[RunningServer]:
    data = tmp_path / "data"
    cli(data, env, "user", "add", ADMIN[0], "--admin", "--password-stdin", stdin=ADMIN[1] + "\n")
    with serving(tmp_path, env=env, data_dir=data) as running, Api(running) as admin:
        admin.project("apps")
        yield running


@pytest.fixture
def peer(tmp_path: Path) -> Iterator[RunningServer]:
    (tmp_path / "peer").mkdir()
    with serving(tmp_path / "peer") as running:
        yield running


def _run_state(api: Api, run_id: int) -> dict[str, Any]:
    run: dict[str, Any] = api.ok("GET", f"/replication/runs/{run_id}")["run"]
    return run


def _patches(peer: RunningServer) -> int:
    return sum(1 for record in access_log(peer) if record["method"] == "PATCH")


def _wait_for(check: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_a_run_killed_half_way_resumes_on_another_worker(
    tmp_path: Path, env: dict[str, str], source: RunningServer, peer: RunningServer
) -> None:
    with httpx.Client(base_url=source.url, auth=ADMIN, timeout=60) as client:
        pushed = push_signed_index(client, "apps/big", "v1", layer_size=3 * MIB)
    body = {"policy": {"name": "slow", "url": peer.url, "repositories": ["apps/big"],
                       "bandwidth": 2 * MIB, "chunk_bytes": 256 * 1024}}  # fmt: skip
    with Api(source) as api:
        api.ok("POST", "/replication/policies", 201, json=body)
        run_id = api.ok("POST", "/replication/policies/slow/runs", 202)["id"]
        first = start_worker(tmp_path, source.data_dir, env, "first")
        try:
            _wait_for(lambda: _run_state(api, run_id)["state"] == "running")
            time.sleep(2.5)  # about 5 of the 12 MiB are at the peer by now
        finally:
            first.process.kill()  # SIGKILL: no lease given back, nothing finished
            first.process.wait()
        assert _run_state(api, run_id)["state"] == "running"
        with working(tmp_path, source.data_dir, env, "second") as second:
            detail = wait_run(api, run_id)
            log = second.log()
    assert detail["run"]["state"] == "done", detail
    assert [i["outcome"] for i in detail["items"]] == ["copied"]
    assert "resuming the upload of sha256:" in log
    resumed_at = [int(found) for found in re.findall(r"resuming the upload .*? at byte (\d+)", log)]
    assert any(offset > 0 for offset in resumed_at), resumed_at
    with peer.client() as client:
        assert_same_tree(client, "apps/big", pushed)


def test_stopping_a_run_stops_its_copies(
    tmp_path: Path, env: dict[str, str], source: RunningServer, peer: RunningServer
) -> None:
    with httpx.Client(base_url=source.url, auth=ADMIN, timeout=60) as client:
        push_signed_index(client, "apps/big", "v1", layer_size=2 * MIB)
    body = {"policy": {"name": "crawl", "url": peer.url, "repositories": ["apps/big"],
                       "bandwidth": 256 * 1024, "chunk_bytes": 64 * 1024}}  # fmt: skip
    with Api(source) as api, working(tmp_path, source.data_dir, env, "only") as worker:
        api.ok("POST", "/replication/policies", 201, json=body)
        run_id = api.ok("POST", "/replication/policies/crawl/runs", 202)["id"]
        _wait_for(lambda: _run_state(api, run_id)["state"] == "running")
        stopped = api.ok("POST", f"/replication/runs/{run_id}/stop")
        assert stopped["stop_requested"] is True
        detail = wait_run(api, run_id, timeout=15)  # 8 MiB at 256 KiB/s would take 30 s
        again = api.http.post(f"/replication/runs/{run_id}/stop")
        assert again.status_code == 409, again.text
        assert "stop asked" in worker.log()
        patches = _patches(peer)
        time.sleep(2)  # copies still going on would send a chunk every quarter second
        assert _patches(peer) == patches  # the worker is still up: its copies did stop
    assert detail["run"]["state"] == "stopped", detail
    with peer.client() as client:
        assert client.get("/v2/apps/big/manifests/v1").status_code == 404


def test_a_worker_stopped_by_sigterm_gives_the_run_back(
    tmp_path: Path, env: dict[str, str], source: RunningServer, peer: RunningServer
) -> None:
    with httpx.Client(base_url=source.url, auth=ADMIN, timeout=60) as client:
        pushed = push_signed_index(client, "apps/big", "v1", layer_size=MIB)
    body = {"policy": {"name": "paced", "url": peer.url, "repositories": ["apps/big"],
                       "bandwidth": MIB, "chunk_bytes": 128 * 1024}}  # fmt: skip
    with Api(source) as api:
        api.ok("POST", "/replication/policies", 201, json=body)
        run_id = api.ok("POST", "/replication/policies/paced/runs", 202)["id"]
        first = start_worker(tmp_path, source.data_dir, env, "polite")
        _wait_for(lambda: _run_state(api, run_id)["state"] == "running")
        stop_worker(first)
        with working(tmp_path, source.data_dir, env, "next"):
            detail = wait_run(api, run_id)
    assert detail["run"]["state"] == "done", detail
    with peer.client() as client:
        assert_same_tree(client, "apps/big", pushed)


def test_a_pull_killed_half_way_resumes_with_range_requests(
    tmp_path: Path, env: dict[str, str], source: RunningServer, peer: RunningServer
) -> None:
    with peer.client() as client:
        pushed = push_signed_index(client, "apps/big", "v1", layer_size=3 * MIB)
    body = {"policy": {"name": "down", "url": peer.url, "direction": "pull",
                       "repositories": ["apps/big"], "bandwidth": 2 * MIB,
                       "chunk_bytes": 256 * 1024}}  # fmt: skip
    with Api(source) as api:
        api.ok("POST", "/replication/policies", 201, json=body)
        run_id = api.ok("POST", "/replication/policies/down/runs", 202)["id"]
        first = start_worker(tmp_path, source.data_dir, env, "puller")
        try:
            _wait_for(lambda: _run_state(api, run_id)["state"] == "running")
            time.sleep(2.5)
        finally:
            first.process.kill()
            first.process.wait()
        assert _run_state(api, run_id)["state"] == "running"
        with working(tmp_path, source.data_dir, env, "next-puller") as second:
            detail = wait_run(api, run_id)
            log = second.log()
    assert detail["run"]["state"] == "done", detail
    offsets = [
        int(found) for found in re.findall(r"resuming the download of .*? at byte (\d+)", log)
    ]
    assert any(offset > 0 for offset in offsets), log[-2000:]
    ranged = [r for r in access_log(peer) if r["status"] == 206]
    assert ranged, "the peer was asked for the rest only"
    with httpx.Client(base_url=source.url, auth=ADMIN, timeout=60) as client:
        assert_same_tree(client, "apps/big", pushed)
