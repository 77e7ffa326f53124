"""The workloads, one module per family, and what they share: the run context, the
alternating order, and ``measure`` (one sample of one figure on one registry, errors kept)."""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from bench.profiles import Profile
from bench.results import Figure, Workload
from bench.servers import NAMES, Server, settle

T = TypeVar("T")


@dataclass
class Bench:
    profile: Profile
    workdir: Path
    workloads: dict[str, Workload] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    active: list[Server] = field(default_factory=list)  # running registries, see settle()

    def workload(self, key: str, number: int, title: str, setup: str) -> Workload:
        self.workloads[key] = Workload(key, number, title, setup)
        return self.workloads[key]

    def log(self, message: str) -> None:
        elapsed = time.monotonic() - self.started
        print(f"[{elapsed:7.1f}s] {message}", file=sys.stderr, flush=True)


def order(repeat: int) -> tuple[str, ...]:
    """Who goes first alternates with every repetition."""
    return NAMES if repeat % 2 == 0 else NAMES[::-1]


def measure(bench: Bench, figure: Figure, server: str, sample: Callable[[], float]) -> None:
    """Take one sample of one figure on one registry; on failure keep the error instead."""
    measure_each(bench, server, sample, [(figure, float)])


def measure_each(
    bench: Bench,
    server: str,
    run: Callable[[], T],
    figures: Sequence[tuple[Figure, Callable[[T], float]]],
) -> None:
    """Run once and take a sample of several figures from the one result."""
    waited = settle(bench.active)
    if waited > 1:
        bench.log(f"  waited {waited:.1f} s for the registries to go idle")
    try:
        result = run()
    except Exception as exc:  # a failed sample is reported, never fatal to the run
        for figure, _ in figures:
            figure.errors[server].append(f"{type(exc).__name__}: {exc}"[:500])
        bench.log(f"  {figures[0][0].key} {server}: FAILED {exc}")
        traceback.print_exc(file=sys.stderr)
        return
    for figure, pick in figures:
        value = pick(result)
        figure.samples[server].append(value)
        bench.log(f"  {figure.key} {server}: {value:.4g} {figure.unit}")


def each_repeat(
    bench: Bench, servers: dict[str, Server], body: Callable[[int, Server], None]
) -> None:
    """``body(repeat, server)`` for every repetition, alternating which registry goes first."""
    for repeat in range(bench.profile.repeats):
        for name in order(repeat):
            body(repeat, servers[name])


def mb(size: int) -> str:
    """A byte count as the tables print it."""
    if size >= 1 << 30 and size % (1 << 30) == 0:
        return f"{size >> 30} GiB"
    if size >= 1 << 20:
        return f"{size / (1 << 20):g} MiB"
    return f"{size / 1024:g} KiB"
