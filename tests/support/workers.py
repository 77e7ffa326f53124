"""Start real ``dockyard worker`` processes (the background side alone) for the tests."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from support.server import DOCKYARD

STARTED = "dockyard worker started"


@dataclass
class RunningWorker:
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def environment(env: dict[str, str]) -> dict[str, str]:
    """The test's own environment without REGISTRY_* settings, plus ``env``."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    full.update(env)
    return full


def start_worker(workdir: Path, data_dir: Path, env: dict[str, str], name: str) -> RunningWorker:
    log_path = workdir / f"worker-{name}.log"
    args = [DOCKYARD, "worker", "--data-dir", str(data_dir)]
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, env=environment(env), cwd=workdir
        )
    worker = RunningWorker(process, log_path)
    deadline = time.monotonic() + 60
    while STARTED not in worker.log():
        if process.poll() is not None or time.monotonic() > deadline:
            stop_worker(worker)
            raise RuntimeError(f"dockyard worker did not start:\n{worker.log()}")
        time.sleep(0.05)
    return worker


def stop_worker(worker: RunningWorker, timeout: float = 30) -> int | None:
    """SIGTERM, as a service manager stops it; the exit status (None if it had to be killed)."""
    if worker.process.poll() is None:
        worker.process.send_signal(signal.SIGTERM)
        try:
            return worker.process.wait(timeout)
        except subprocess.TimeoutExpired:
            worker.process.kill()
            worker.process.wait(10)
            return None
    return worker.process.returncode


@contextmanager
def working(
    workdir: Path, data_dir: Path, env: dict[str, str], name: str
) -> Iterator[RunningWorker]:
    worker = start_worker(workdir, data_dir, env, name)
    try:
        yield worker
    finally:
        stop_worker(worker)


def dockyard(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a ``dockyard`` command to its end; its output as text (check=True)."""
    return subprocess.run(
        [DOCKYARD, *args], capture_output=True, text=True, timeout=120, check=True,
        env=environment(env), cwd=cwd,
    )  # fmt: skip
