"""``dockyard export`` and ``dockyard import-layout``: repositories as OCI image layouts."""

from __future__ import annotations

import argparse
import os
import sys

from dockyard.bootstrap_backup import layout_exporter, layout_importer, layout_source, layout_target
from dockyard.cli import datadir
from dockyard.cli.common import add_config_arguments, fail, load, with_registry
from dockyard.cli.progress import progress_for
from dockyard.core.patterns import PatternError, validate_pattern
from dockyard.services.backup.layout_export import ExportReport
from dockyard.services.backup.layout_import import LayoutImportReport
from dockyard.services.registry import Registry


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    export = subparsers.add_parser(
        "export", help="write repositories (with their referrers) as an OCI image layout"
    )
    export.add_argument("directory", metavar="DIR", help="the layout directory (new or empty)")
    which = export.add_mutually_exclusive_group(required=True)
    which.add_argument("--repositories", metavar="PATTERN", help="e.g. 'team-a/**' or 'app'")
    which.add_argument("--project", metavar="NAME", help="every repository of the project")
    export.add_argument("--quiet", action="store_true", help="no progress output")
    add_config_arguments(export)
    export.set_defaults(handler=run_export)
    load_ = subparsers.add_parser(
        "import-layout", help="import an OCI image layout (from dockyard export or skopeo)"
    )
    load_.add_argument("directory", metavar="DIR", help="the layout directory")
    load_.add_argument(
        "--repository", metavar="NAME", help="import everything into this repository"
    )
    load_.add_argument("--quiet", action="store_true", help="no progress output")
    add_config_arguments(load_)
    datadir.mark_creating(load_)
    load_.set_defaults(handler=run_import)


def run_export(args: argparse.Namespace) -> int:
    pattern = args.repositories or f"{args.project}/**"
    try:
        validate_pattern(pattern)
    except PatternError as exc:
        return fail(f"export: {pattern}: {exc}")
    if os.path.isdir(args.directory) and os.listdir(args.directory):
        return fail(f"export: {args.directory} is not empty")
    settings = load(args)
    if settings is None:
        return 1
    progress = progress_for("export", quiet=args.quiet)
    created = not os.path.exists(args.directory)

    async def work(registry: Registry) -> ExportReport:
        target = layout_target(args.directory)
        return await layout_exporter(registry).run(pattern, target, progress)

    report = with_registry(settings, work)
    print(report.summary())
    if not report.repositories:
        if created:
            os.rmdir(args.directory)  # made for nothing: leave no empty layout behind
        return fail(f"export: no repository matches {pattern}")
    return 0


def run_import(args: argparse.Namespace) -> int:
    settings = load(args)
    if settings is None:
        return 1
    source = layout_source(args.directory)
    progress = progress_for("import-layout", quiet=args.quiet)

    async def work(registry: Registry) -> LayoutImportReport:
        return await layout_importer(registry).run(source, args.repository, progress)

    report = with_registry(settings, work)
    for problem in report.problems:
        print(f"problem: {problem}", file=sys.stderr)
    print(report.summary())
    return 1 if report.problems else 0
