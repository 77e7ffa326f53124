"""``dockyard quota list|set|unset``: per-project storage quotas and what each project uses."""

from __future__ import annotations

import argparse
import json

from dockyard.cli.common import (
    add_config_arguments,
    audit,
    fail,
    load,
    operator,
    with_registry,
)
from dockyard.config import ConfigError
from dockyard.config.lifecycle import parse_limit
from dockyard.core.sizes import format_size
from dockyard.services.lifecycle.quotas import ProjectQuota
from dockyard.services.registry import Registry

COLUMNS = ("PROJECT", "USED", "LIMIT", "USE%", "UNIQUE", "SHARED", "UNREFERENCED", "SOURCE")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("quota", help="per-project storage quotas and usage")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="usage and limit of every project (or those named)")
    listing.add_argument("projects", nargs="*", metavar="PROJECT")
    listing.add_argument("--json", action="store_true", help="one JSON object per line, bytes")
    setting = actions.add_parser("set", help="set a project's limit (overrides the config)")
    setting.add_argument("project", metavar="PROJECT")
    setting.add_argument("limit", metavar="SIZE", help="e.g. 50GiB, 500MB, or unlimited")
    unset = actions.add_parser("unset", help="drop a stored limit (the config applies again)")
    unset.add_argument("project", metavar="PROJECT")
    for sub in (listing, setting, unset):
        add_config_arguments(sub)
        sub.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = load(args)
    if settings is None:
        return 1
    try:
        limit = parse_limit(args.limit) if args.action == "set" else None
    except ConfigError as exc:
        return fail(f"quota: {exc.message}")
    return with_registry(settings, lambda registry: _act(registry, args, limit))


async def _act(registry: Registry, args: argparse.Namespace, limit: int | None) -> int:
    quotas = registry.lifecycle.quotas
    if args.action == "set":
        await quotas.set_limit(args.project, limit, by=operator())
        await audit(registry, "quota.set", f"project:{args.project}", {"limit": limit})
        print(f"{args.project}: {format_size(limit) if limit is not None else 'unlimited'}")
        return 0
    if args.action == "unset":
        if not await quotas.unset_limit(args.project, by=operator()):
            return fail(f"quota: no stored limit for {args.project}")
        await audit(registry, "quota.unset", f"project:{args.project}")
        print(f"{args.project}: the configured limit applies again")
        return 0
    reports = await quotas.report(args.projects or None)
    if args.json:
        for report in reports:
            print(json.dumps(as_json(report)))
    else:
        print("\t".join(COLUMNS))
        for report in reports:
            print("\t".join(as_row(report)))
    return 0


def as_row(report: ProjectQuota) -> list[str]:
    usage, limit = report.detail, report.limit
    used = usage.stored_bytes
    percent = f"{100 * used / limit:.0f}%" if limit else "-"
    return [
        usage.project,
        format_size(used),
        format_size(limit) if limit is not None else "unlimited",
        percent,
        format_size(usage.unique_bytes),
        format_size(usage.shared_bytes),
        format_size(usage.unreferenced_bytes),
        report.source,
    ]


def as_json(report: ProjectQuota) -> dict[str, object]:
    usage = report.detail
    return {
        "project": usage.project,
        "used_bytes": usage.stored_bytes,
        "limit_bytes": report.limit,
        "blob_bytes": usage.blob_bytes,
        "blobs": usage.blobs,
        "unique_bytes": usage.unique_bytes,
        "shared_bytes": usage.shared_bytes,
        "manifest_bytes": usage.manifest_bytes,
        "unreferenced_bytes": usage.unreferenced_bytes,
        "source": report.source,
    }
