"""Figures (one measured quantity, sampled on both registries), their medians, ranges and
ratios, and the targets they are judged against."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.servers import DOCKYARD, NAMES, REFERENCE

HIGHER, LOWER = "higher", "lower"


@dataclass
class Figure:
    key: str  # "workload.figure"
    label: str
    unit: str
    better: str  # HIGHER or LOWER
    samples: dict[str, list[float]] = field(default_factory=lambda: {n: [] for n in NAMES})
    errors: dict[str, list[str]] = field(default_factory=lambda: {n: [] for n in NAMES})

    def median(self, server: str) -> float | None:
        values = self.samples[server]
        return statistics.median(values) if values else None

    def ratio(self) -> float | None:
        """dockyard / reference, whatever the direction (see ``better``)."""
        dockyard, reference = self.median(DOCKYARD), self.median(REFERENCE)
        if dockyard is None or reference is None or reference == 0:
            return None
        return dockyard / reference

    def summary(self, server: str) -> dict[str, Any]:
        values = self.samples[server]
        return {
            "median": self.median(server),
            "min": min(values) if values else None,
            "max": max(values) if values else None,
            "samples": values,
            "errors": self.errors[server],
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "unit": self.unit,
            "better": self.better,
            "reference": self.summary(REFERENCE),
            "dockyard": self.summary(DOCKYARD),
            "ratio_dockyard_over_reference": self.ratio(),
        }


@dataclass
class Workload:
    key: str
    number: int
    title: str
    setup: str  # size, count and concurrency, as run
    figures: dict[str, Figure] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def figure(self, name: str, label: str, unit: str, better: str) -> Figure:
        if name not in self.figures:
            self.figures[name] = Figure(f"{self.key}.{name}", label, unit, better)
        return self.figures[name]

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "title": self.title,
            "setup": self.setup,
            "notes": self.notes,
            "figures": {name: f.to_json() for name, f in self.figures.items()},
        }


@dataclass(frozen=True)
class Target:
    name: str
    wanted: str
    check: Check


def _get(workloads: dict[str, Workload], key: str) -> Figure | None:
    workload, _, name = key.partition(".")
    found = workloads.get(workload)
    return found.figures.get(name) if found else None


Check = Callable[[dict[str, Workload]], tuple[str, bool | None]]  # -> (measured text, met)


def ratio_at_least(keys: list[str], minimum: float) -> Check:
    def check(workloads: dict[str, Workload]) -> tuple[str, bool | None]:
        ratios = [f.ratio() if (f := _get(workloads, k)) else None for k in keys]
        if any(r is None for r in ratios):
            return "not measured", None
        text = ", ".join(f"{r:.2f}x" for r in ratios if r is not None)
        return text, all(r is not None and r >= minimum for r in ratios)

    return check


def dockyard_at_most(keys: list[str], maximum: float, unit: str) -> Check:
    def check(workloads: dict[str, Workload]) -> tuple[str, bool | None]:
        values = [f.median(DOCKYARD) if (f := _get(workloads, k)) else None for k in keys]
        if any(v is None for v in values):
            return "not measured", None
        text = ", ".join(f"{v:.3g} {unit}" for v in values if v is not None)
        return text, all(v is not None and v <= maximum for v in values)

    return check


def dockyard_growth(pairs: list[tuple[str, str]], maximum: float, label: str) -> Check:
    """dockyard's figure at the big size over its figure at the small size, for each pair."""

    def check(workloads: dict[str, Workload]) -> tuple[str, bool | None]:
        ratios = []
        for small, big in pairs:
            a, b = _get(workloads, small), _get(workloads, big)
            low = a.median(DOCKYARD) if a else None
            high = b.median(DOCKYARD) if b else None
            ratios.append(None if not low or high is None else high / low)
        if any(r is None for r in ratios):
            return "not measured", None
        text = ", ".join(f"{r:.2f}x" for r in ratios if r is not None) + f" ({label})"
        return text, all(r is not None and r <= maximum for r in ratios)

    return check


def evaluate(targets: list[Target], workloads: dict[str, Workload]) -> list[dict[str, Any]]:
    rows = []
    for target in targets:
        measured, met = target.check(workloads)
        rows.append(
            {"target": target.name, "wanted": target.wanted, "measured": measured, "met": met}
        )
    return rows
