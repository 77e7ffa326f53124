"""Run ``scripts/bench --quick`` once, to prove the benchmark harness works end to end.

It checks that the results exist and are complete (every workload, both registries, numeric
figures). It asserts no speed: the benchmark's targets are judged in its own report.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKLOADS = {
    "push_monolithic",
    "push_chunked",
    "blob_get",
    "manifest",
    "tags_list",
    "catalog",
    "skopeo",
    "concurrent_push",
    "memory",
    "cold_start",
    "scaleout_manifest",
    "scaleout_s3",
    "webhook_overhead",
    "event_delivery",
    "mirror_warm",
    "mirror_cold",
}


@pytest.mark.slow
def test_quick_bench_measures_every_workload_on_both_registries(tmp_path: Path) -> None:
    run = subprocess.run(
        [str(ROOT / "scripts" / "bench"), "--quick", "--repeats", "1", "--out", str(tmp_path)],
        check=False,
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
    )
    log = f"exit {run.returncode}\n{run.stderr[-4000:]}"
    results = tmp_path / "latest-quick.json"
    assert results.exists(), log
    doc = json.loads(results.read_text())
    assert set(doc["workloads"]) == WORKLOADS, log
    for key, workload in doc["workloads"].items():
        assert workload["figures"], key
        for name, figure in workload["figures"].items():
            for server in ("reference", "dockyard"):
                median = figure[server]["median"]
                assert isinstance(median, int | float), (key, name, server, figure[server], log)
    assert [t["target"] for t in doc["targets"]], "the report lists the targets"
    assert (tmp_path / "latest-quick.md").read_text().startswith("# dockyard vs Distribution")
