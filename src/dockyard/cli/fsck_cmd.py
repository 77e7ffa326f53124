"""``dockyard fsck``: check blobs and every tag -> manifest -> blob chain; quarantine on request."""

from __future__ import annotations

import argparse

from dockyard.cli.common import add_config_arguments, fail, load, with_registry
from dockyard.cli.progress import progress_for
from dockyard.services.lifecycle.fsck import FsckOptions, FsckReport
from dockyard.services.registry import Registry


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "fsck", help="check blobs and manifests for missing or corrupt content"
    )
    parser.add_argument(
        "--rehash",
        default="0",
        metavar="WHICH",
        help="re-hash blobs: all, a share (10%%), or about N of them (default: none, sizes only)",
    )
    parser.add_argument("--repositories", metavar="PATTERN", help="only these (e.g. 'team-a/**')")
    parser.add_argument(
        "--quarantine",
        action="store_true",
        help="move broken blobs and manifests aside (dockyard/quarantine/) and drop their records",
    )
    add_config_arguments(parser)
    parser.set_defaults(handler=run)


def rehash_option(text: str) -> tuple[float, int | None]:
    """``all`` -> (1, None); ``10%`` -> (0.1, None); ``500`` -> (0, 500)."""
    value = text.strip().lower()
    if value == "all":
        return 1.0, None
    if value.endswith("%"):
        share = float(value[:-1]) / 100
        if not 0 <= share <= 1:
            raise ValueError("a share must be from 0% to 100%")
        return share, None
    count = int(value)
    if count < 0:
        raise ValueError("a count cannot be negative")
    return 0.0, count if count else None


def run(args: argparse.Namespace) -> int:
    settings = load(args)
    if settings is None:
        return 1
    try:
        share, count = rehash_option(args.rehash)
    except ValueError as exc:
        return fail(f"fsck: --rehash {args.rehash}: {exc}")
    options = FsckOptions(
        rehash=share,
        rehash_count=count,
        repositories=args.repositories,
        quarantine=args.quarantine,
        actor="dockyard fsck",
    )

    async def check(registry: Registry) -> FsckReport:
        return await registry.lifecycle.fsck.run(options, progress_for("fsck"))

    report = with_registry(settings, check)
    for problem in report.problems:
        print(problem.describe())
    print(report.summary())
    return 1 if report.problems else 0
