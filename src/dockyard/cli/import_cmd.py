"""``dockyard import``: adopt an existing registry:2 storage root, in place or by copying.

Without ``--config``, ``--data-dir`` or ``REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY`` the root
becomes dockyard's own data directory (blobs used in place, as before). With them, dockyard's
storage is what they say; a root that is not that storage is only read, and its blobs are
copied into dockyard's storage (S3, or another local root).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from dockyard.bootstrap import build_import_source, build_registry
from dockyard.cli import datadir
from dockyard.cli.progress import progress_for
from dockyard.cli.serve import settings_for
from dockyard.config import ConfigError
from dockyard.services.importing.importer import ImportReport


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "import",
        help="index a registry:2 storage root into dockyard's database "
        "(blobs used in place, or copied into dockyard's storage)",
    )
    parser.add_argument(
        "root",
        nargs="?",
        metavar="PATH",
        help="the registry:2 rootdirectory (default: storage.filesystem.rootdirectory)",
    )
    parser.add_argument("--config", metavar="FILE", help="registry:2 style config.yml")
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help="dockyard's storage root, when it is not PATH (blobs are copied into it)",
    )
    parser.add_argument("--dry-run", action="store_true", help="report what would be imported")
    parser.add_argument(
        "--verify-blobs", action="store_true", help="re-hash every blob before importing it"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        settings = settings_for(args.config, data_dir=_data_dir(args))
        root = args.root or settings.storage_root()
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    if not os.path.isdir(os.path.join(root, "docker", "registry", "v2")):
        print(f"import: {root} does not look like a registry:2 storage root", file=sys.stderr)
        return 1
    refusal = datadir.prepare(settings, create=True)
    if refusal is not None:
        print(refusal, file=sys.stderr)
        return 1
    source = build_import_source(settings, root)
    registry = build_registry(settings)
    importer = registry.importer.reading(source)

    async def run_import() -> ImportReport:
        await registry.startup()
        try:
            return await importer.run(
                dry_run=args.dry_run,
                verify_blobs=args.verify_blobs,
                progress=progress_for("import"),
            )
        finally:
            await registry.shutdown()

    report = asyncio.run(run_import())
    _print_report(report, dry_run=args.dry_run, copying=source is not None)
    return 1 if report.problems else 0


def _data_dir(args: argparse.Namespace) -> str | None:
    """``--data-dir``; else PATH itself when nothing else names dockyard's storage."""
    if args.data_dir is not None:
        return str(args.data_dir)
    if args.config is None and "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY" not in os.environ:
        return str(args.root) if args.root is not None else None
    return None


def _print_report(report: ImportReport, *, dry_run: bool, copying: bool) -> None:
    verb = "would import" if dry_run else "imported"
    text = f"{verb} {report.new.text('new ')} (already recorded: {report.already.text()})"
    if copying:
        text += f"; {'would copy' if dry_run else 'copied'} {report.copied} blobs "
        text += f"({report.copied_bytes} bytes)"
    print(text)
    for problem in report.problems:
        print(f"problem: {problem}", file=sys.stderr)
