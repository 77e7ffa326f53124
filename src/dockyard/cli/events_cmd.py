"""``dockyard events list``: the outbox, oldest first, one JSON line per event.

Reading only: it refuses a missing data directory (as ``jobs`` and ``audit export`` do).
Each line is ``{"sequence": N, "event": {...}}``; pass the last ``sequence`` seen as
``--after`` to read on from there.
"""

from __future__ import annotations

import argparse

import msgspec

from dockyard.cli.common import add_config_arguments, fail, load, with_registry
from dockyard.core.events import StoredEvent
from dockyard.services.events import DEFAULT_PAGE, MAX_PAGE
from dockyard.services.registry import Registry


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("events", help="domain events in the outbox")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="print events as JSON lines, oldest first")
    add_config_arguments(listing)
    listing.add_argument(
        "--after", type=int, default=0, metavar="N", help="only events with sequence > N"
    )
    listing.add_argument(
        "--limit",
        type=int,
        default=DEFAULT_PAGE,
        metavar="N",
        help=f"at most N events (1..{MAX_PAGE}, default {DEFAULT_PAGE})",
    )
    listing.set_defaults(handler=run_list)


def run_list(args: argparse.Namespace) -> int:
    if args.after < 0 or not 1 <= args.limit <= MAX_PAGE:
        return fail(f"--after must be 0 or more and --limit 1..{MAX_PAGE}")
    settings = load(args)
    if settings is None:
        return 1

    async def page(registry: Registry) -> list[StoredEvent]:
        assert registry.events is not None
        return await registry.events.after(args.after, args.limit)

    for stored in with_registry(settings, page):
        print(msgspec.json.encode(stored).decode())
    return 0
