"""Workload 9: resident memory of the server's whole process tree (granian's worker
included) while it receives and then serves a big blob.

Each sample uses a freshly started server with empty storage, so VmHWM (the lifetime peak of
each process) means "peak during this workload". VmRSS is summed over the tree every 10 ms.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass

from bench.content import BlobFile
from bench.registry import get_blob, push_monolithic
from bench.results import LOWER
from bench.servers import Server, tree_memory_kib
from bench.workloads import Bench, mb, measure_each, order

REPO = "bench/memory"
INTERVAL = 0.01
KIB_PER_MIB = 1024


@dataclass(frozen=True)
class MemorySample:
    idle: float
    upload_peak: float
    download_peak: float
    hwm: float


class RssSampler:
    """Peak of the summed VmRSS of a process tree while a ``with`` block runs."""

    def __init__(self, server: Server) -> None:
        self.pids = server.pids()
        self.server = server
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.peak_kib = max(self.peak_kib, tree_memory_kib(self.pids)[0])
            self._stop.wait(INTERVAL)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_kib = max(self.peak_kib, self.server.memory_kib()[0])


def _during(server: Server, action: Callable[[], None]) -> float:
    with RssSampler(server) as sampler:
        action()
    return sampler.peak_kib / KIB_PER_MIB


def sample_memory(bench: Bench, name: str, repeat: int, blob: BlobFile) -> MemorySample:
    workdir = bench.workdir / "memory" / f"{name}-{repeat}"
    server = Server(name, workdir, access_log=bench.profile.access_log)
    try:
        server.start()
        idle = server.memory_kib()[0] / KIB_PER_MIB
        upload = _during(server, lambda: push_monolithic(server, REPO, blob))
        download = _during(server, lambda: get_blob(server, REPO, blob))
        hwm = server.memory_kib()[1] / KIB_PER_MIB
        return MemorySample(idle, upload, download, hwm)
    finally:
        server.stop()
        shutil.rmtree(server.workdir, ignore_errors=True)


def run_memory(bench: Bench, blob: BlobFile) -> None:
    workload = bench.workload(
        "memory",
        9,
        "Server memory during big transfers",
        f"{mb(blob.size)} monolithic upload then full GET, fresh server each time; "
        "RSS summed over the process tree, sampled every 10 ms",
    )
    figures = [
        (workload.figure("idle", "idle RSS after start", "MiB", LOWER), _pick("idle")),
        (
            workload.figure("upload_peak", "peak RSS during upload", "MiB", LOWER),
            _pick("upload_peak"),
        ),
        (
            workload.figure("download_peak", "peak RSS during download", "MiB", LOWER),
            _pick("download_peak"),
        ),
        (workload.figure("hwm", "VmHWM after both (sum)", "MiB", LOWER), _pick("hwm")),
    ]
    for repeat in range(bench.profile.repeats):
        for name in order(repeat):
            measure_each(bench, name, _sampler(bench, name, repeat, blob), figures)


def _sampler(bench: Bench, name: str, repeat: int, blob: BlobFile) -> Callable[[], MemorySample]:
    return lambda: sample_memory(bench, name, repeat, blob)


def _pick(attribute: str) -> Callable[[MemorySample], float]:
    return lambda sample: float(getattr(sample, attribute))
