"""``dockyard import``: adopt an existing registry:2 storage root in place."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from dockyard.bootstrap import build_registry
from dockyard.cli.serve import settings_for
from dockyard.config import ConfigError
from dockyard.services.importer import ImportReport


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "import",
        help="index a registry:2 storage root into dockyard's database (no bytes are copied)",
    )
    parser.add_argument(
        "root",
        nargs="?",
        metavar="PATH",
        help="the registry:2 rootdirectory (default: storage.filesystem.rootdirectory)",
    )
    parser.add_argument("--config", metavar="FILE", help="registry:2 style config.yml")
    parser.add_argument("--dry-run", action="store_true", help="report what would be imported")
    parser.add_argument(
        "--verify-blobs", action="store_true", help="re-hash every blob before importing it"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        settings = settings_for(args.config, data_dir=args.root)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    root = args.root or settings.storage_root()
    if not os.path.isdir(os.path.join(root, "docker", "registry", "v2")):
        print(f"import: {root} does not look like a registry:2 storage root", file=sys.stderr)
        return 1
    registry = build_registry(settings)

    async def run_import() -> ImportReport:
        await registry.startup()
        try:
            return await registry.importer.run(
                dry_run=args.dry_run, verify_blobs=args.verify_blobs
            )
        finally:
            await registry.shutdown()

    report = asyncio.run(run_import())
    _print_report(report, dry_run=args.dry_run)
    return 1 if report.problems else 0


def _print_report(report: ImportReport, *, dry_run: bool) -> None:
    verb = "would import" if dry_run else "imported"
    print(
        f"{verb} {report.repositories} repositories, {report.blobs} blob links, "
        f"{report.manifests} manifests, {report.tags} tags"
    )
    for problem in report.problems:
        print(f"problem: {problem}", file=sys.stderr)
