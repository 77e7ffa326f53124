"""``dockyard retention run [--dry-run]`` and ``dockyard retention history``."""

from __future__ import annotations

import argparse
import sys
import time

from dockyard.cli.common import add_config_arguments, audit, fail, load, with_registry
from dockyard.core.errors import RegistryError
from dockyard.services.jobs.model import Job
from dockyard.services.lifecycle.retention import RetentionReport
from dockyard.services.lifecycle.retention_plan import Decision
from dockyard.services.registry import Registry


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("retention", help="apply retention policies (or preview)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    run_parser = actions.add_parser("run", help="delete what the policies say (dockyard.retention)")
    run_parser.add_argument("--dry-run", action="store_true", help="list what would go, and why")
    run_parser.add_argument("-v", "--verbose", action="store_true", help="also list what stays")
    history = actions.add_parser(
        "history", help="what retention, bulk deletion, fsck and gc -m removed"
    )
    history.add_argument("--repository", metavar="NAME")
    history.add_argument("--limit", type=int, default=50, metavar="N")
    for sub in (run_parser, history):
        add_config_arguments(sub)
        sub.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = load(args)
    if settings is None:
        return 1
    if args.action == "history":
        return with_registry(settings, lambda registry: _history(registry, args))
    if not settings.dockyard.retention.policies:
        print("retention: no policies configured (dockyard.retention.policies)", file=sys.stderr)
        return 1
    try:
        report = with_registry(settings, lambda registry: _run_audited(registry, args.dry_run))
    except RegistryError as error:
        return fail(f"retention: {error.message}")
    print_report(report, verbose=args.verbose)
    return 0


async def _run_audited(registry: Registry, dry_run: bool) -> RetentionReport:
    report = await _run(registry, dry_run)
    if not dry_run:
        detail = {"deleted": len(report.deleted), "repositories": report.repositories,
                  "skipped": len(report.skipped)}  # fmt: skip
        await audit(registry, "retention.run", "system:retention", detail)
    return report


async def _run(registry: Registry, dry_run: bool) -> RetentionReport:
    """A real run is recorded as a ``retention`` job run here (``dockyard jobs`` shows it);
    its error, if any, propagates."""
    retention = registry.lifecycle.retention
    if dry_run:
        return await retention.run(dry_run=True)
    reports: list[RetentionReport] = []
    errors: list[Exception] = []

    async def apply(job: Job) -> str:
        try:
            reports.append(await retention.run(actor="retention (dockyard retention run)"))
        except Exception as exc:
            errors.append(exc)
            raise
        return reports[-1].summary()

    assert registry.background is not None  # built with the registry
    await registry.background.run_here("retention", apply, {})
    if errors:
        raise errors[0]
    return reports[-1]


def describe(decision: Decision) -> str:
    tags = ",".join(decision.tags) or "untagged"
    return f"{decision.repository}@{decision.digest} ({tags}): {decision.reason}"


def print_report(report: RetentionReport, *, verbose: bool) -> None:
    verb = "would delete" if report.dry_run else "deleted"
    listed = report.planned if report.dry_run else report.deleted
    policy = ""
    for decision in listed:
        if decision.policy != policy:
            policy = decision.policy
            print(f"policy {policy}:")
        print(f"  {verb} {describe(decision)}")
    for decision, why in report.skipped:
        print(f"  skipped {describe(decision)}: {why}")
    if verbose:
        for decision in (d for d in report.decisions if not d.delete):
            print(f"  keep {describe(decision)} [policy {decision.policy}]")
    print(report.summary())


async def _history(registry: Registry, args: argparse.Namespace) -> int:
    for record in await registry.lifecycle.retention.history(args.limit, args.repository):
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(record.created_at))
        tags = ",".join(record.tags) or "untagged"
        print(f"{when}Z\t{record.repository}@{record.digest}\t{tags}\t{record.rule}\t"
              f"{record.actor}\t{record.reason}")  # fmt: skip
    return 0
