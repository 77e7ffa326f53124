"""``python -m bench.run [--quick]``: run every workload against both registries and write
``bench/results/<mode>-<time>.{json,md}`` (and ``latest-<mode>.{json,md}``).

Exit status: 0 when every figure was measured on both registries, 1 when some failed (the
files are written all the same), 2 when the machine is not ready (tools, disk).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import report, stack
from bench.content import BlobFile
from bench.profiles import PROFILES, Profile
from bench.results import (
    Target,
    Workload,
    dockyard_at_most,
    dockyard_growth,
    evaluate,
    ratio_at_least,
)
from bench.servers import DOCKYARD, Server, dockyard_command, make_pair
from bench.workloads import Bench, blobs, catalog, clients, events, memory, mirror, scaleout
from bench.workloads import metadata as meta

TOOLS = ("docker-registry", "wrk", "ab", "skopeo")
DEFAULT_OUT = Path(__file__).resolve().parent / "results"
MEMORY_LIMIT_MIB = 150.0
MEMORY_GROWTH_MIB = 50.0
PHASES = (
    "blobs", "manifests", "tags", "pushes", "skopeo", "memory", "catalog", "scaleout", "events",
    "mirror",
)  # fmt: skip
#: How many workloads each phase reports.
PHASE_WORKLOADS = {"blobs": 3, "catalog": 2, "scaleout": 2, "events": 2, "mirror": 2}
SCRATCH_NEEDED = 8 << 30
MAIN_PAIR_PHASES = ("blobs", "manifests", "tags", "pushes", "skopeo")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, under 3 minutes")
    parser.add_argument("--repeats", type=int, help="samples per figure (default 3)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results directory")
    parser.add_argument("--only", help=f"comma-separated phases of {','.join(PHASES)}")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument(
        "--access-log",
        choices=("on", "off"),
        default="on",
        help="on (default): both registries at their default logging; off: level warn, "
        "access logs disabled",
    )
    return parser.parse_args(argv)


def preflight(profile: Profile, tmp: str, selected: set[str]) -> str | None:
    unknown = selected - set(PHASES)
    if unknown:
        return f"unknown phases: {', '.join(sorted(unknown))} (choose from {','.join(PHASES)})"
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if "scaleout" in selected:
        missing += stack.missing()
    if missing:
        return f"missing tools: {', '.join(missing)} (scripts/bench installs them)"
    if not Path(dockyard_command()).exists():
        return f"dockyard is not installed next to {sys.executable}"
    free = shutil.disk_usage(tmp).free
    if free < profile.disk_needed:
        return (
            f"{tmp} has {free / 2**30:.1f} GiB free; the {profile.name} run needs "
            f"{profile.disk_needed / 2**30:.0f} GiB"
        )
    return None


# what ran where --------------------------------------------------------------------------------


def _output(*argv: str) -> str:
    try:
        result = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=30)
    except OSError:
        return "?"
    return (
        (result.stdout or result.stderr).strip().splitlines()[0]
        if (result.stdout or result.stderr)
        else "?"
    )


def _package(name: str) -> str:
    return _output("dpkg-query", "-W", "-f=${Version}", name)


def versions() -> dict[str, str]:
    repo = Path(__file__).resolve().parent.parent
    commit = _output("git", "-C", str(repo), "rev-parse", "--short", "HEAD")
    if _output("git", "-C", str(repo), "status", "--porcelain", "--", "src") != "?":
        commit += " + uncommitted changes in src/"
    return {
        "dockyard": f"{_output(dockyard_command(), '--version').split()[-1]} ({commit})",
        "docker-registry": _output("docker-registry", "--version").split()[-1],
        "python": platform.python_version(),
        "granian": metadata.version("granian"),
        "wrk": _package("wrk"),
        "ab": _package("apache2-utils"),
        "skopeo": _package("skopeo"),
        **stack.versions(),
    }


def machine(tmp: str) -> dict[str, Any]:
    cpu = "?"
    with open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as handle:
        total_kib = int(handle.readline().split()[1])
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": total_kib / 2**20,
        "kernel": platform.release(),
        "tmp_filesystem": _output("findmnt", "-n", "-o", "FSTYPE", "-T", tmp),
    }


# phases --------------------------------------------------------------------------------------


def phase(bench: Bench, errors: dict[str, str], name: str, action: Callable[[], None]) -> None:
    """Run one phase; a failure is recorded and the run goes on with the next phase."""
    bench.log(f"== {name}")
    try:
        action()
    except Exception as exc:  # the other phases still run; the error lands in the report
        errors[name] = f"{type(exc).__name__}: {exc}"[:800]
        bench.log(f"phase {name} FAILED: {exc}")
        traceback.print_exc(file=sys.stderr)


def run_main_pair(bench: Bench, errors: dict[str, str], selected: set[str]) -> None:
    """Workloads 1-5, 7, 8 against one long-lived pair of registries."""
    servers = make_pair(bench.workdir, "main", bench.profile.access_log)
    bench.active = list(servers.values())
    try:
        for server in servers.values():
            server.start()
        if "blobs" in selected:
            phase(bench, errors, "blobs", lambda: _blobs(bench, servers))
        if "manifests" in selected:
            phase(bench, errors, "manifests", lambda: meta.run_manifests(bench, servers))
        if "tags" in selected:
            phase(bench, errors, "tags", lambda: meta.run_tags(bench, servers))
        if "pushes" in selected:
            phase(bench, errors, "pushes", lambda: clients.run_concurrent_pushes(bench, servers))
        if "skopeo" in selected:
            phase(bench, errors, "skopeo", lambda: clients.run_skopeo(bench, servers))
    finally:
        bench.active = []
        _stop_and_remove(servers)


def _stop_and_remove(servers: dict[str, Server]) -> None:
    for server in servers.values():
        server.stop()
        shutil.rmtree(server.workdir, ignore_errors=True)


def _blobs(bench: Bench, servers: dict[str, Server]) -> None:
    bench.log(f"  writing a {bench.profile.blob_size >> 20} MiB random blob")
    blob = BlobFile.create(bench.workdir / "blob.bin", bench.profile.blob_size)
    try:
        blobs.run_pushes(bench, servers, blob)
        blobs.run_gets(bench, servers, blob)
    finally:
        blob.path.unlink()


def _memory(bench: Bench) -> None:
    bench.log(f"  writing a {bench.profile.memory_size >> 20} MiB random blob")
    blob = BlobFile.create(bench.workdir / "memory.bin", bench.profile.memory_size)
    try:
        memory.run_memory(bench, blob)
    finally:
        blob.path.unlink()


def scratch_dir(bench: Bench) -> tuple[Path, str]:
    """Where the catalog phase keeps its two 100 000-repository trees: tmpfs when there is room
    (deleting Distribution's ~2 million files from ext4 takes 6-10 minutes), else the run's
    temporary directory."""
    shm = Path("/dev/shm")
    if shm.is_dir() and shutil.disk_usage(shm).free >= SCRATCH_NEEDED:
        return Path(tempfile.mkdtemp(prefix="dockyard-bench-", dir=shm)), "tmpfs (/dev/shm)"
    return bench.workdir, f"{machine(str(bench.workdir))['tmp_filesystem']} (/tmp)"


def _catalog(bench: Bench) -> None:
    where, label = scratch_dir(bench)
    try:
        catalog.run_catalog_and_cold_start(bench, where, label)
    finally:
        if where != bench.workdir:
            shutil.rmtree(where, ignore_errors=True)


def run_all(bench: Bench, selected: set[str]) -> dict[str, str]:
    errors: dict[str, str] = {}
    if selected & set(MAIN_PAIR_PHASES):
        phase(bench, errors, "main registries", lambda: run_main_pair(bench, errors, selected))
    if "memory" in selected:
        phase(bench, errors, "memory", lambda: _memory(bench))
    if "catalog" in selected:
        phase(
            bench,
            errors,
            "catalog",
            lambda: _catalog(bench),
        )
    if "scaleout" in selected:
        phase(bench, errors, "scaleout", lambda: scaleout.run_scaleout(bench))
    if "events" in selected:
        phase(bench, errors, "events", lambda: events.run_events(bench))
    if "mirror" in selected:
        workdir = bench.workdir / "mirror"
        phase(bench, errors, "mirror", lambda: mirror.run_mirror(bench, workdir))
    return errors


# targets and output ----------------------------------------------------------------------------


def targets(profile: Profile) -> list[Target]:
    small, big = profile.catalog_counts
    return [
        Target("monolithic push", ">= 2.5x", ratio_at_least(["push_monolithic.throughput"], 2.5)),
        Target("chunked push", ">= 2.5x", ratio_at_least(["push_chunked.throughput"], 2.5)),
        Target("full blob GET", ">= 1.0x", ratio_at_least(["blob_get.full_get"], 1.0)),
        Target(
            "manifest GET/HEAD (tag, digest, HEAD tag, HEAD digest)",
            ">= 10x",
            ratio_at_least(
                [
                    "manifest.get_tag",
                    "manifest.get_digest",
                    "manifest.head_tag",
                    "manifest.head_digest",
                ],
                10.0,
            ),
        ),
        Target(
            "tags/list (first, deep page)",
            ">= 10x",
            ratio_at_least(["tags_list.first_page", "tags_list.deep_page"], 10.0),
        ),
        Target(
            f"_catalog page time flat, {small:,} -> {big:,} repositories (first, deep page)",
            "dockyard within 2x",
            dockyard_growth(
                [
                    (f"catalog.first_{small}", f"catalog.first_{big}"),
                    (f"catalog.deep_{small}", f"catalog.deep_{big}"),
                ],
                2.0,
                "big / small",
            ),
        ),
        Target(
            "server memory during big upload, download",
            f"< {MEMORY_LIMIT_MIB:.0f} MiB",
            dockyard_at_most(
                ["memory.upload_peak", "memory.download_peak"], MEMORY_LIMIT_MIB, "MiB"
            ),
        ),
        Target(
            "server memory flat (peak minus idle, upload and download)",
            f"<= {MEMORY_GROWTH_MIB:.0f} MiB",
            _memory_growth,
        ),
        Target(
            f"cold start with {small:,} and {big:,} repositories",
            "< 2 s",
            dockyard_at_most(
                [f"cold_start.seconds_{small}", f"cold_start.seconds_{big}"], 2.0, "s"
            ),
        ),
        Target(
            "manifest GET by tag, 3 nodes (PostgreSQL + S3, nginx) vs 1 reference",
            ">= 3x",
            ratio_at_least(["scaleout_manifest.get_tag"], 3.0),
        ),
        Target(
            "push, pull through S3 as a share of raw S3 PUT, GET (obstore)",
            ">= 0.80x (80 %)",
            ratio_at_least(["scaleout_s3.push", "scaleout_s3.pull"], 0.8),
        ),
        Target(
            "pushes, manifest GETs with two endpoints on a 1 s receiver vs none (dockyard)",
            ">= 0.95x (at most 5 % slower)",
            ratio_at_least(["webhook_overhead.pushes", "webhook_overhead.get_tag"], 0.95),
        ),
        Target(
            "pull-through cache: warm image pull vs Distribution's cache",
            ">= 1.0x",
            ratio_at_least(["mirror_warm.pull"], 1.0),
        ),
        Target(
            "pull-through cache: cold blob pull as a share of a direct pull from the upstream",
            ">= 0.80x (80 %)",
            ratio_at_least(["mirror_cold.vs_direct"], 0.8),
        ),
    ]


def _memory_growth(workloads: dict[str, Workload]) -> tuple[str, bool | None]:
    figures = workloads.get("memory")
    if figures is None:
        return "not measured", None
    idle = figures.figures["idle"].median(DOCKYARD)
    peaks = [figures.figures[k].median(DOCKYARD) for k in ("upload_peak", "download_peak")]
    if idle is None or any(p is None for p in peaks):
        return "not measured", None
    growth = [p - idle for p in peaks if p is not None]
    text = ", ".join(f"+{g:.1f} MiB" for g in growth)
    return text, all(g <= MEMORY_GROWTH_MIB for g in growth)


def document(
    bench: Bench, errors: dict[str, str], started: datetime, tmp: str, load_before: float
) -> dict[str, Any]:
    return {
        "load_average": {"start": load_before, "end": os.getloadavg()[0]},
        "mode": bench.profile.name,
        "started": started.strftime("%Y-%m-%d %H:%M UTC"),
        "duration_seconds": time.monotonic() - bench.started,
        "repeats": bench.profile.repeats,
        "machine": machine(tmp),
        "versions": versions(),
        "profile": {k: v for k, v in vars_of(bench.profile).items()},
        "workloads": {k: w.to_json() for k, w in bench.workloads.items()},
        "targets": evaluate(targets(bench.profile), bench.workloads),
        "phase_errors": errors,
    }


def vars_of(profile: Profile) -> dict[str, Any]:
    return {name: getattr(profile, name) for name in profile.__dataclass_fields__}


def complete(doc: dict[str, Any], selected: set[str]) -> bool:
    figures = [f for w in doc["workloads"].values() for f in w["figures"].values()]
    measured = all(f[s]["median"] is not None for f in figures for s in ("reference", "dockyard"))
    expected = sum(PHASE_WORKLOADS.get(name, 1) for name in selected)
    return measured and len(doc["workloads"]) == expected and not doc["phase_errors"]


def write(doc: dict[str, Any], out: Path, started: datetime) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{doc['mode']}-{started.strftime('%Y%m%d-%H%M%S')}"
    text = json.dumps(doc, indent=2) + "\n"
    markdown = report.render(doc)
    for name in (stem, f"latest-{doc['mode']}"):
        (out / f"{name}.json").write_text(text)
        (out / f"{name}.md").write_text(markdown)
    return out / f"{stem}.md"


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks that stop the servers


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    profile = PROFILES["quick" if args.quick else "full"].with_repeats(args.repeats)
    profile = profile.with_access_log(args.access_log == "on")
    selected = set(args.only.split(",")) if args.only else set(PHASES)
    tmp = tempfile.gettempdir()
    problem = preflight(profile, tmp, selected)
    if problem:
        print(f"bench: {problem}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _terminate)
    started = datetime.now(UTC)
    workdir = Path(tempfile.mkdtemp(prefix="dockyard-bench-", dir=tmp))
    bench = Bench(profile, workdir)
    bench.log(f"{profile.name} run in {workdir}")
    load_before = os.getloadavg()[0]
    try:
        errors = run_all(bench, selected)
        doc = document(bench, errors, started, tmp, load_before)
        path = write(doc, args.out, started)
        print(report.render(doc))
        bench.log(f"wrote {path} and {path.with_suffix('.json')}")
    finally:
        if not args.keep:
            bench.log(f"removing {workdir}")
            shutil.rmtree(workdir, ignore_errors=True)
    return 0 if complete(doc, selected) else 1


if __name__ == "__main__":
    sys.exit(main())
