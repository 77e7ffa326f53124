"""Garbage collection on a schedule inside the server: one run per interval, with metrics."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
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


def _gc_events(log: str) -> list[tuple[str, str]]:
    """(node, "start" | "end") for each run, in the order the nodes wrote them to the shared
    log: a run starts after its node took the lease and logs its summary before giving it
    back, so both lines fall inside the lease."""
    events = []
    for line in log.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # not a log record (or one still being written)
        if not isinstance(entry, dict) or entry.get("logger") != "dockyard.gc":
            continue
        message = str(entry["msg"])
        if message.startswith("gc: started"):
            events.append((str(entry["node"]), "start"))
        elif message.startswith(("gc: deleted", "gc: would delete")):
            events.append((str(entry["node"]), "end"))
    return events


def test_two_nodes_share_one_schedule(tmp_path: Path) -> None:
    """Two servers on one database, both scheduling gc every second: runs never overlap.
    Each run starts and ends on the same node before any other run starts, as the job
    queue guarantees (one run enqueued per interval, none while one is pending), and every
    run is recorded there."""
    env = {"REGISTRY_DOCKYARD_GC_INTERVAL": "1s", "REGISTRY_DOCKYARD_GC_GRACE": "1h"}
    data, shared_log = tmp_path / "data", tmp_path / "both.log"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with serving(tmp_path / "a", env={**env, "REGISTRY_LOG_FIELDS_NODE": "a"}, data_dir=data,
                 log_path=shared_log), \
            serving(tmp_path / "b", env={**env, "REGISTRY_LOG_FIELDS_NODE": "b"},
                    data_dir=data, log_path=shared_log):  # fmt: skip
        _wait(lambda: [kind for _, kind in _gc_events(shared_log.read_text())].count("end") >= 4,
              seconds=60)  # fmt: skip
        jobs = subprocess.run(
            [DOCKYARD, "jobs", "--data-dir", str(data)],
            capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
    log = shared_log.read_text()
    schedulers = [json.loads(line).get("node") for line in log.splitlines()
                  if '"taking jobs: ' in line and "gc every 1s" in line]  # fmt: skip
    assert sorted(schedulers) == ["a", "b"], "both nodes compete for every run"
    events = _gc_events(log)
    finished = events[: len(events) - len(events) % 2]  # the last run may still be going
    for (node, kind), (same_node, next_kind) in zip(finished[::2], finished[1::2], strict=True):
        assert (kind, next_kind) == ("start", "end") and node == same_node, events
    assert len(finished) >= 8, events
    assert re.search(r"^gc: .*\(ok\)", jobs.stdout, re.MULTILINE), jobs.stdout
