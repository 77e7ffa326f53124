"""``dockyard gc``: online garbage collection, safe while the registry serves."""

from __future__ import annotations

import argparse
import asyncio
import sys

from dockyard.bootstrap import build_registry
from dockyard.cli.serve import settings_for
from dockyard.config import ConfigError, parse_duration
from dockyard.services.gc import GcReport


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
        "--grace", default="1h", metavar="DURATION", help="keep blobs younger than this (1h)"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        settings = settings_for(args.config or args.config_file, data_dir=args.data_dir)
        grace = parse_duration(args.grace)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    registry = build_registry(settings)
    registry.gc.grace_seconds = grace

    async def collect() -> GcReport:
        await registry.startup()
        try:
            return await registry.gc.run(dry_run=args.dry_run, delete_untagged=args.delete_untagged)
        finally:
            await registry.shutdown()

    report = asyncio.run(collect())
    print(report.summary())
    return 1 if report.stopped_early else 0
