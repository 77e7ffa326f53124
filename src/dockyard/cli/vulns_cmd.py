"""``dockyard vulndb import PATH`` / ``vulndb status`` and ``dockyard vulns show|scan|search``:
the vulnerability database and findings from the command line, as the operator.

``vulndb import`` reads OSV records from a file, a directory or a zip archive (offline), then
re-evaluates every scanned image; it prints one JSON line with the counts and the database.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import msgspec

from dockyard.cli.common import add_config_arguments, fail, load, operator, with_registry
from dockyard.cli.sbom_cmd import split_image
from dockyard.services.registry import Registry
from dockyard.services.vulns import export
from dockyard.services.vulns.service import VulnService


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    vulndb = subparsers.add_parser("vulndb", help="the vulnerability database (OSV records)")
    db_actions = vulndb.add_subparsers(dest="action", metavar="ACTION", required=True)
    importing = db_actions.add_parser("import", help="import OSV records (file, directory, zip)")
    add_config_arguments(importing)
    importing.add_argument("path", metavar="PATH")
    importing.set_defaults(handler=run_import)
    status = db_actions.add_parser("status", help="which database is loaded, and its age")
    add_config_arguments(status)
    status.set_defaults(handler=run_status)

    vulns = subparsers.add_parser("vulns", help="vulnerability findings of images")
    actions = vulns.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = actions.add_parser("show", help="findings of an image (per platform for an index)")
    add_config_arguments(show)
    show.add_argument("image", metavar="REPO:TAG|REPO@DIGEST")
    show.add_argument("--format", choices=("json", "csv"), default="json")
    show.set_defaults(handler=run_show)
    scan = actions.add_parser("scan", help="scan an image now with the loaded database")
    add_config_arguments(scan)
    scan.add_argument("image", metavar="REPO:TAG|REPO@DIGEST")
    scan.set_defaults(handler=run_scan)
    search = actions.add_parser("search", help="where an advisory or CVE id was found")
    add_config_arguments(search)
    search.add_argument("advisory", metavar="CVE-...|ADVISORY-ID")
    search.add_argument("--limit", type=int, default=100)
    search.set_defaults(handler=run_search)


def _run(args: argparse.Namespace, work: Any) -> Any:
    settings = load(args)
    if settings is None:
        return None

    async def call(registry: Registry) -> Any:
        assert registry.vulns is not None  # always built (bootstrap)
        return await work(registry.vulns)

    return with_registry(settings, call)


def _print(value: Any) -> None:
    print(msgspec.json.encode(value).decode())


def run_import(args: argparse.Namespace) -> int:
    async def work(service: VulnService) -> Any:
        report = await service.import_path(operator(), Path(args.path))
        counts = report.counts
        return {
            "added": counts.added, "updated": counts.updated, "removed": counts.removed,
            "unchanged": counts.unchanged, "images": report.images, "changed": report.changed,
            "database": export.database_json(counts.state, time.time()),
        }  # fmt: skip

    result = _run(args, work)
    if result is None:
        return 1
    _print(result)
    return 0


def run_status(args: argparse.Namespace) -> int:
    async def work(service: VulnService) -> Any:
        return {"database": export.database_json(await service.database(), time.time())}

    result = _run(args, work)
    if result is None:
        return 1
    _print(result)
    return 0


def run_show(args: argparse.Namespace) -> int:
    target = split_image(args.image)
    if target is None:
        return fail("error: name the image as REPO:TAG or REPO@DIGEST")

    async def work(service: VulnService) -> Any:
        return await service.report(operator(), *target)

    report = _run(args, work)
    if report is None:
        return 1
    if args.format == "csv":
        print(export.report_csv(report), end="")
    else:
        _print(export.report_json(report, time.time()))
    return 0


def run_scan(args: argparse.Namespace) -> int:
    target = split_image(args.image)
    if target is None:
        return fail("error: name the image as REPO:TAG or REPO@DIGEST")

    async def work(service: VulnService) -> Any:
        return await service.scan_now(operator(), *target)

    judged = _run(args, work)
    if judged is None:
        return 1
    for summary in judged:
        _print(export.summary_json(summary))
    return 0


def run_search(args: argparse.Namespace) -> int:
    async def work(service: VulnService) -> Any:
        return await service.search(operator(), args.advisory, args.limit)

    hits = _run(args, work)
    if hits is None:
        return 1
    for hit in hits:
        _print(export.hit_json(hit))
    return 0
