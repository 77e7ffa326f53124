"""Garbage collection on a schedule inside the server: one run per interval, with metrics."""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import time
from datetime import datetime
from pathlib import Path

import httpx

from support.oci import make_image, push_blob, push_image, sha256
from support.server import DOCKYARD, free_port, serving


def _metric(text: str, name: str) -> float:
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def _wait(condition: object, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.2)
    raise AssertionError("timed out")


def test_scheduled_gc_frees_blobs_and_reports_progress(tmp_path: Path) -> None:
    debug_port = free_port()
    env = {
        "REGISTRY_STORAGE_DELETE_ENABLED": "true",
        "REGISTRY_HTTP_DEBUG_ADDR": f"127.0.0.1:{debug_port}",
        "REGISTRY_DOCKYARD_GC_INTERVAL": "1s",
        "REGISTRY_DOCKYARD_GC_GRACE": "2s",
        "REGISTRY_DOCKYARD_GC_DELETEUNTAGGED": "true",
    }
    metrics_url = f"http://127.0.0.1:{debug_port}/metrics"
    with serving(tmp_path, env=env) as server, server.client() as client:
        kept, dropped = make_image(layers=1), make_image(layers=1, size=3000)
        push_image(client, "sched/app", kept, tag="kept")
        push_image(client, "sched/app", dropped, tag="dropped")
        orphan = os.urandom(5000)
        push_blob(client, "sched/app", orphan)
        assert client.delete("/v2/sched/app/manifests/dropped").status_code == 202  # untag only

        gone = [orphan, dropped.config, *dropped.layers]

        def collected() -> bool:  # GET, not HEAD: a HEAD pins the blob (a push relies on it)
            return all(
                client.get(f"/v2/sched/app/blobs/{sha256(b)}").status_code == 404 for b in gone
            )

        _wait(collected)
        assert client.get(f"/v2/sched/app/manifests/{dropped.digest}").status_code == 404
        assert client.get("/v2/sched/app/manifests/kept").content == kept.manifest
        for blob in [kept.config, *kept.layers]:
            assert client.get(f"/v2/sched/app/blobs/{sha256(blob)}").content == blob

        freed = sum(len(b) for b in gone)
        text = httpx.get(metrics_url).text
        assert _metric(text, "registry_gc_bytes_freed_total") >= freed, text
        assert _metric(text, "registry_gc_bytes_marked_total") >= freed
        assert _metric(text, "registry_gc_blobs_freed_total") >= len(gone)
        assert _metric(text, "registry_gc_manifests_deleted_total") >= 1
        assert _metric(text, 'registry_gc_runs_total{result="ok"}') >= 1
        assert _metric(text, 'registry_job_runs_total{job="gc",result="ok"}') >= 1
        assert "gc: started" in server.log() and "gc finished (ok)" in server.log()

        jobs = subprocess.run(
            [DOCKYARD, "jobs", "--data-dir", str(server.data_dir)],
            capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        assert re.search(r"^gc: .*\(ok\)", jobs.stdout, re.MULTILINE), jobs.stdout


def _starts(log: str) -> list[datetime]:
    lines = [json.loads(line) for line in log.splitlines() if '"gc: started' in line]
    return [datetime.fromisoformat(line["time"].replace("Z", "+00:00")) for line in lines]


def test_two_nodes_share_one_schedule(tmp_path: Path) -> None:
    """Two servers on one database: gc runs about once a second between them, never twice
    in the same interval (each node alone would run it every second too)."""
    env = {"REGISTRY_DOCKYARD_GC_INTERVAL": "1s", "REGISTRY_DOCKYARD_GC_GRACE": "1h"}
    data = tmp_path / "data"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with serving(tmp_path / "a", env=env, data_dir=data) as a, \
            serving(tmp_path / "b", env=env, data_dir=data) as b:  # fmt: skip
        time.sleep(3.2)
        starts = sorted(_starts(a.log()) + _starts(b.log()))
    assert len(starts) >= 3
    gaps = [(later - earlier).total_seconds() for earlier, later in itertools.pairwise(starts)]
    assert min(gaps) >= 0.95, gaps  # due one interval after the last run finished, anywhere
