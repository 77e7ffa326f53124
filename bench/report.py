"""Render a finished run (the JSON document ``run.py`` writes) as Markdown."""

from __future__ import annotations

from typing import Any

DIGITS = ((100, 0), (10, 1), (1, 2))  # at least this big: this many decimals


def number(value: float | None) -> str:
    """Three significant figures or so, thousands separated; whole numbers as they are."""
    if value is None:
        return "—"
    if float(value).is_integer():
        return f"{int(value):,}"
    decimals = next((d for floor, d in DIGITS if abs(value) >= floor), 3)
    return f"{value:,.{decimals}f}"


def _cell(summary: dict[str, Any]) -> str:
    if summary["median"] is None:
        return "failed" if summary["errors"] else "—"
    return f"{number(summary['median'])} ({number(summary['min'])} - {number(summary['max'])})"


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}x"


def _met(met: bool | None) -> str:
    return {True: "met", False: "**NOT met**", None: "not measured"}[met]


def _logging(doc: dict[str, Any]) -> str:
    if doc["profile"].get("access_log", True):
        return (
            "default logging (no `log:` section: level info, access log on; dockyard one JSON "
            "line per request on stderr, the reference a text line and a combined-format line)"
        )
    return "log level warn, access logs disabled (`--access-log off`)"


def header(doc: dict[str, Any]) -> list[str]:
    machine, versions, mode = doc["machine"], doc["versions"], doc["mode"]
    lines = [
        f"# dockyard vs Distribution: {mode} run",
        "",
        f"- date: {doc['started']} (took {doc['duration_seconds'] / 60:.1f} min, not counting "
        "the removal of its temporary files)",
        f"- machine: {machine['nproc']} cores ({machine['cpu']}), "
        f"{machine['memory_gib']:.1f} GiB memory, Linux {machine['kernel']}, "
        f"{machine['tmp_filesystem']} under /tmp",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()),
        f"- load average (1 min) at start / end: {doc['load_average']['start']:.2f} / "
        f"{doc['load_average']['end']:.2f} (anything else running on the machine moves the "
        "figures; before each sample the harness waits until both registries are idle)",
        f"- every figure: median of {doc['repeats']} runs per registry, (min - max) after it; the "
        "registries alternate which goes first; ratio = dockyard / reference, and *better* "
        "says which direction wins",
        "- reference = CNCF Distribution (`docker-registry serve`); both with filesystem storage, "
        f"no auth, delete enabled, {_logging(doc)}; dockyard with its default single granian "
        "worker",
    ]
    if {"scaleout_manifest", "scaleout_s3"} & set(doc["workloads"]):
        lines.append(
            "- except workloads 11-12 (scale-out): there dockyard is 3 nodes on PostgreSQL + S3 "
            "(SeaweedFS) behind nginx, and in workload 12 the *reference* column is raw S3 "
            "through obstore, so its ratio is the share of the store's own throughput"
        )
    if mode == "quick":
        lines.append(
            "- **quick mode**: smaller sizes, counts and 1 s load runs (listed under "
            "*Workloads as run*): a check that the harness works, not figures to quote"
        )
    return lines


def targets_table(doc: dict[str, Any]) -> list[str]:
    lines = ["", "## Targets", "", "| target | wanted | measured | met |", "|---|---|---|---|"]
    lines += [
        f"| {t['target']} | {t['wanted']} | {t['measured']} | {_met(t['met'])} |"
        for t in doc["targets"]
    ]
    return lines


def results_table(doc: dict[str, Any]) -> list[str]:
    lines = [
        "",
        "## Results",
        "",
        "| # | workload | figure | unit | reference | dockyard | dockyard / reference | better |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for workload in sorted(doc["workloads"].values(), key=lambda w: w["number"]):
        for figure in workload["figures"].values():
            lines.append(
                f"| {workload['number']} | {workload['title']} | {figure['label']} "
                f"| {figure['unit']} | {_cell(figure['reference'])} | {_cell(figure['dockyard'])} "
                f"| {_ratio(figure['ratio_dockyard_over_reference'])} | {figure['better']} |"
            )
    return lines


def setups(doc: dict[str, Any]) -> list[str]:
    lines = ["", "## Workloads as run", ""]
    for workload in sorted(doc["workloads"].values(), key=lambda w: w["number"]):
        lines.append(f"{workload['number']}. **{workload['title']}**: {workload['setup']}")
        lines += [f"   - {note}" for note in workload["notes"]]
    return lines


def errors(doc: dict[str, Any]) -> list[str]:
    found = []
    for key, workload in doc["workloads"].items():
        for name, figure in workload["figures"].items():
            for server in ("reference", "dockyard"):
                found += [f"- {key}.{name} {server}: {e}" for e in figure[server]["errors"]]
    found += [f"- {phase}: {error}" for phase, error in doc["phase_errors"].items()]
    return ["", "## Errors", "", *found] if found else []


def render(doc: dict[str, Any]) -> str:
    parts = header(doc) + targets_table(doc) + results_table(doc) + setups(doc) + errors(doc)
    return "\n".join(parts) + "\n"
