"""``dockyard delete``: delete images in bulk, by repository and tag pattern, age, last pull
or being untagged, after showing exactly what would go."""

from __future__ import annotations

import argparse
import sys

from dockyard.cli.common import add_config_arguments, audit, fail, load, with_registry
from dockyard.config import ConfigError
from dockyard.config.lifecycle import parse_age
from dockyard.core.errors import RegistryError
from dockyard.core.patterns import PatternError, validate_pattern
from dockyard.services.lifecycle.bulk_delete import BulkReport, Selection
from dockyard.services.lifecycle.retention_plan import Decision
from dockyard.services.registry import Registry


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "delete", help="delete images in bulk (with a preview): by tag pattern, age, untagged"
    )
    parser.add_argument("--repo", required=True, metavar="PATTERN", help="e.g. 'ci/**'")
    parser.add_argument("--tag", metavar="PATTERN", help="images with tags matching, e.g. 'pr-*'")
    parser.add_argument("--older-than", metavar="AGE", help="pushed longer ago, e.g. 30d, 12h")
    parser.add_argument(
        "--not-pulled-for", metavar="AGE", help="not pulled for this long (never: since the push)"
    )
    parser.add_argument("--untagged", action="store_true", help="images without a tag")
    parser.add_argument(
        "--grace", default="1h", metavar="AGE", help="never touch images pushed this recently (1h)"
    )
    parser.add_argument("--dry-run", action="store_true", help="only show what would go")
    parser.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    add_config_arguments(parser)
    parser.set_defaults(handler=run)


def selection_from(args: argparse.Namespace) -> Selection:
    for pattern in (args.repo, args.tag):
        if pattern is not None:
            validate_pattern(pattern)
    return Selection(
        repositories=args.repo,
        tags=args.tag,
        older_than=parse_age(args.older_than) if args.older_than else None,
        untagged=args.untagged,
        grace=parse_age(args.grace),
        not_pulled_for=parse_age(args.not_pulled_for) if args.not_pulled_for else None,
    )


def run(args: argparse.Namespace) -> int:
    settings = load(args)
    if settings is None:
        return 1
    try:
        selection = selection_from(args)
        preview = with_registry(settings, lambda r: _delete(r, selection, dry_run=True))
        print_report(preview)
        if args.dry_run or not preview.planned:
            return 0
        if not _confirmed(args.yes, preview):
            return fail("delete: nothing deleted (confirm, or pass --yes)")
        print_report(with_registry(settings, lambda r: _delete(r, selection, dry_run=False)))
    except (ConfigError, PatternError, ValueError) as exc:
        return fail(f"delete: {exc}")
    except RegistryError as error:
        return fail(f"delete: {error.message}")
    return 0


async def _delete(registry: Registry, selection: Selection, *, dry_run: bool) -> BulkReport:
    actor = "dockyard delete"
    report = await registry.lifecycle.bulk.run(selection, dry_run=dry_run, actor=actor)
    if not dry_run:
        manifests, tags = report.counts(report.done)
        await audit(
            registry, "images.delete", f"repositories:{selection.repositories}",
            {"selection": selection.describe(), "manifests": manifests, "tags": tags,
             "skipped": len(report.skipped)},
        )  # fmt: skip
    return report


def _confirmed(yes: bool, preview: BulkReport) -> bool:
    if yes:
        return True
    if not sys.stdin.isatty():
        return False
    answer = input(f"{preview.summary().replace('would delete', 'Delete')}? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def describe(decision: Decision) -> str:
    tags = ",".join(decision.untag or decision.tags) or "untagged"
    return f"{decision.repository}@{decision.digest} ({tags}): {decision.reason}"


def print_report(report: BulkReport) -> None:
    listed = report.planned if report.dry_run else report.done
    for decision in listed:
        if report.dry_run:
            verb = "would delete" if decision.delete else "would untag"
        else:
            verb = "deleted" if decision.delete else "untagged"
        print(f"  {verb} {describe(decision)}")
    for decision in report.kept:
        print(f"  keep {describe(decision)}")
    for decision, why in report.skipped:
        print(f"  skipped {describe(decision)}: {why}")
    print(report.summary())
