"""``dockyard gc``: online garbage collection, safe while the registry serves."""

from __future__ import annotations

import argparse
import asyncio
import sys

from dockyard.bootstrap import build_registry
from dockyard.cli import datadir
from dockyard.cli.common import audit
from dockyard.cli.logsetup import configure_logging
from dockyard.cli.progress import progress_for
from dockyard.cli.serve import settings_for
from dockyard.config import ConfigError, parse_duration
from dockyard.services.jobs.model import Job, JobFailedError
from dockyard.services.lifecycle.gc import GcReport
from dockyard.services.registry import Registry

GC_ACTOR = "gc (dockyard gc)"  # the actor of its events


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "gc", aliases=["garbage-collect"], help="delete blobs no manifest references (online)"
    )
    parser.add_argument("config_file", nargs="?", metavar="CONFIG", help="config.yml (as registry)")
    parser.add_argument("--config", metavar="FILE", help="registry:2 style config.yml")
    parser.add_argument("--data-dir", metavar="DIR", help="storage root")
    parser.add_argument("-d", "--dry-run", action="store_true", help="report, delete nothing")
    parser.add_argument(
        "-m", "--delete-untagged", action="store_true", help="also delete untagged manifests"
    )
    parser.add_argument(
        "--grace",
        metavar="DURATION",
        help="keep blobs younger than this (default: dockyard.gc.grace, 1h)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        settings = settings_for(args.config or args.config_file, data_dir=args.data_dir)
        grace = parse_duration(args.grace) if args.grace is not None else None
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    refusal = datadir.prepare(settings, create=False)
    if refusal is not None:
        print(refusal, file=sys.stderr)
        return 1
    configure_logging(settings.log.level, "text", {})  # progress on stderr
    registry = build_registry(settings)
    if grace is not None:
        registry.gc.grace_seconds = grace

    async def collect() -> GcReport | str:
        await registry.startup()
        try:
            return await _collect(registry, args.dry_run, args.delete_untagged)
        finally:
            await registry.shutdown()

    report = asyncio.run(collect())
    if isinstance(report, str):
        print(report, file=sys.stderr)
        return 1
    for repository, digest in report.manifests:  # filled by dry runs: what would go
        print(f"would delete manifest {repository}@{digest}")
    for digest, size in report.blobs:
        print(f"would delete blob {digest} ({size} bytes)")
    print(report.summary())
    return 1 if report.stopped_early else 0


async def _collect(registry: Registry, dry_run: bool, delete_untagged: bool) -> GcReport | str:
    """A real run is recorded as a ``gc`` job run here (``dockyard jobs`` shows it; a failed
    one is a dead letter ``dockyard jobs retry`` can hand to a worker). It goes ahead even
    while another run is going: collection is safe while another runs. A dry run just
    reports. Returns the report, or why there is none.
    """
    if dry_run:
        return await registry.gc.run(dry_run=True, delete_untagged=delete_untagged)
    report = await _collect_now(registry, delete_untagged)
    if isinstance(report, GcReport):
        await audit(registry, "gc.run", "system:gc", {
            "manifests": report.manifests_deleted, "blobs": report.blobs_deleted,
            "bytes": report.bytes_freed, "stopped_early": report.stopped_early,
        })  # fmt: skip
    return report


async def _collect_now(registry: Registry, delete_untagged: bool) -> GcReport | str:
    reports: list[GcReport] = []
    errors: list[Exception] = []

    async def collect(job: Job) -> str:
        try:
            report = await registry.gc.run(
                delete_untagged=delete_untagged, actor=GC_ACTOR, progress=progress_for("gc")
            )
        except Exception as exc:
            errors.append(exc)
            raise
        reports.append(report)
        if report.stopped_early:
            raise JobFailedError(report.summary())
        return report.summary()

    assert registry.background is not None  # built with the registry
    payload = {"delete_untagged": delete_untagged}
    outcome = await registry.background.run_here("gc", collect, payload)
    if reports:
        return reports[0]
    return f"gc failed: {errors[0]}" if errors else f"gc {outcome}"
