"""`dockyard worker` processes sharing the job queue: a worker killed mid-job loses nothing,
a schedule runs once per interval between workers, a clean stop gives the job back, and
`dockyard serve` can be told to leave the jobs to the workers."""

from __future__ import annotations

import itertools
import os
import re
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from support import postgres
from support.server import free_port, serving
from support.workers import RunningWorker, dockyard, start_worker, stop_worker, working

needs_postgres = pytest.mark.skipif(not postgres.available(), reason="PostgreSQL not installed")
FAST = {"REGISTRY_DOCKYARD_JOBS_LEASE": "2s", "REGISTRY_DOCKYARD_JOBS_POLL": "0.2s"}


def _wait(condition: Callable[[], Any], seconds: float = 60.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError("timed out")


def _job(url: str, job_id: int) -> tuple[Any, ...]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT state, lease_owner, attempts, result FROM jobs WHERE id = %s", (job_id,)
        ).fetchone()
    assert row is not None
    return tuple(row)


def _owner_pid(owner: str) -> int:
    return int(owner.split(":")[1])  # host:pid:suffix


@pytest.fixture
def shared_pg(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    url = postgres.shared_server().create_database("workers")
    yield url, {"REGISTRY_DOCKYARD_DATABASE": url, **FAST}


@needs_postgres
def test_a_job_of_a_killed_worker_is_finished_by_the_other(
    tmp_path: Path, shared_pg: tuple[str, dict[str, str]]
) -> None:
    url, env = shared_pg
    data = tmp_path / "data"
    with ExitStack() as stack:
        workers = {
            w.pid: w for w in (stack.enter_context(working(tmp_path, data, env, n)) for n in "ab")
        }
        queued = dockyard("jobs", "probe", "--seconds", "6", "--data-dir", str(data),
                          env=env, cwd=tmp_path).stdout  # fmt: skip
        job_id = int(re.search(r"job (\d+) queued", queued).group(1))  # type: ignore[union-attr]
        _, owner, _, _ = _wait(lambda: (j := _job(url, job_id))[0] == "running" and j)
        victim = workers[_owner_pid(owner)]
        time.sleep(0.5)  # well inside the job
        os.kill(victim.pid, signal.SIGKILL)
        victim.process.wait(10)
        [survivor] = [w for pid, w in workers.items() if pid != victim.pid]

        done = _wait(lambda: (j := _job(url, job_id))[0] == "done" and j, seconds=90)
        _, finished_by, attempts, result = done
        assert _owner_pid(finished_by) == survivor.pid, (victim.log(), survivor.log())
        assert attempts == 2 and "attempt 2" in result, result
        shown = dockyard("jobs", "--data-dir", str(data), env=env, cwd=tmp_path).stdout
        assert re.search(r"^probe: .*dead 0.*\(ok\): probe waited 6s", shown, re.M), shown


@needs_postgres
def test_a_schedule_runs_once_per_interval_between_two_workers(
    tmp_path: Path, shared_pg: tuple[str, dict[str, str]]
) -> None:
    url, env = shared_pg
    env = {**env, "REGISTRY_DOCKYARD_GC_INTERVAL": "1s", "REGISTRY_DOCKYARD_GC_GRACE": "1h"}
    data = tmp_path / "data"

    def runs() -> list[tuple[float, float, float, str]]:
        with psycopg.connect(url) as conn:
            rows = conn.execute(
                "SELECT created_at, started_at, finished_at, lease_owner FROM jobs "
                "WHERE kind = 'gc' AND state = 'done' ORDER BY created_at"
            ).fetchall()
        return [tuple(row) for row in rows]  # type: ignore[misc]

    with working(tmp_path, data, env, "a"), working(tmp_path, data, env, "b"):
        _wait(lambda: len(runs()) >= 5)
    done = runs()
    for earlier, later in itertools.pairwise(done):
        assert later[0] - earlier[0] >= 0.999, f"two runs in one interval: {done}"
        assert later[1] >= earlier[2], f"runs overlapped: {done}"


@needs_postgres
def test_sigterm_gives_the_running_job_back(
    tmp_path: Path, shared_pg: tuple[str, dict[str, str]]
) -> None:
    url, env = shared_pg
    env = {**env, "REGISTRY_DOCKYARD_JOBS_STOPTIMEOUT": "0.5s"}
    data = tmp_path / "data"
    worker: RunningWorker = start_worker(tmp_path, data, env, "a")
    try:
        queued = dockyard("jobs", "probe", "--seconds", "600", "--data-dir", str(data),
                          env=env, cwd=tmp_path).stdout  # fmt: skip
        job_id = int(re.search(r"job (\d+) queued", queued).group(1))  # type: ignore[union-attr]
        _wait(lambda: _job(url, job_id)[0] == "running")
    finally:
        status = stop_worker(worker)
    assert status == 0, worker.log()
    state, _, attempts, _ = _job(url, job_id)
    assert (state, attempts) == ("queued", 0), "given back, the attempt not counted"
    assert "dockyard worker stopped" in worker.log()


def test_serve_can_leave_jobs_to_a_worker(tmp_path: Path) -> None:
    """SQLite, one data directory: `serve` with runinserve off schedules nothing; a worker
    started beside it runs the scheduled gc, and counts it on its own metrics listener."""
    env = {"REGISTRY_DOCKYARD_GC_INTERVAL": "1s", **FAST}
    data = tmp_path / "data"

    def jobs() -> str:
        return dockyard("jobs", "--data-dir", str(data), env=env, cwd=tmp_path).stdout

    def gc_ran() -> bool:
        return re.search(r"^gc: .*every 1s.*\(ok\)", jobs(), re.M) is not None

    off = {**env, "REGISTRY_DOCKYARD_JOBS_RUNINSERVE": "false"}
    with serving(tmp_path, data_dir=data, env=off) as server:
        time.sleep(3)  # a serve that took jobs would have looked at the schedule by now
        assert jobs().strip() == "no jobs yet"
        debug = free_port()
        with working(tmp_path, data, {**env, "REGISTRY_HTTP_DEBUG_ADDR": f"127.0.0.1:{debug}"},
                     "w") as worker:  # fmt: skip
            _wait(gc_ran)
            metrics = httpx.get(f"http://127.0.0.1:{debug}/metrics").text
            assert 'registry_job_runs_total{job="gc",result="ok"}' in metrics, metrics[-2000:]
        assert "gc finished (ok)" in worker.log()
        assert "gc finished" not in server.log()
