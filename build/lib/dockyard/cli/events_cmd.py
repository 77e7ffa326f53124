"""``dockyard events list|deliveries|replay``: the outbox and its deliveries.

``list``: the outbox, oldest first, one JSON line per event, ``{"sequence": N, "event":
{...}}``; pass the last ``sequence`` seen as ``--after`` to read on from there.
``deliveries``: the delivery history, newest first, one JSON line per delivery (state,
attempts, the last HTTP status and error); ``--state dead`` lists the dead letters.
``replay ID`` or ``replay --dead``: dead deliveries back to pending (sent again, same event id).

All refuse a missing data directory (as ``jobs`` and ``audit export`` do).
"""

from __future__ import annotations

import argparse

import msgspec

from dockyard.cli.common import add_config_arguments, fail, load, with_registry
from dockyard.core.delivery import DeliveryRecord, DeliveryState
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
    _register_deliveries(actions)
    _register_replay(actions)


def _register_deliveries(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    history = actions.add_parser(
        "deliveries", help="the delivery history as JSON lines, newest first"
    )
    add_config_arguments(history)
    history.add_argument("--subscription", metavar="KEY", help="e.g. notifications:<name>")
    history.add_argument("--state", choices=[s.value for s in DeliveryState])
    history.add_argument("--before", type=int, metavar="ID", help="only deliveries with id < ID")
    history.add_argument(
        "--limit", type=int, default=DEFAULT_PAGE, metavar="N", help=f"1..{MAX_PAGE}"
    )
    history.set_defaults(handler=run_deliveries)


def _register_replay(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    replay = actions.add_parser("replay", help="send dead deliveries again (same event id)")
    add_config_arguments(replay)
    which = replay.add_mutually_exclusive_group(required=True)
    which.add_argument("id", nargs="?", type=int, help="one dead delivery, by id")
    which.add_argument("--dead", action="store_true", help="every dead delivery")
    replay.add_argument("--subscription", metavar="KEY", help="only this subscription's")
    replay.set_defaults(handler=run_replay)


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


def run_deliveries(args: argparse.Namespace) -> int:
    if not 1 <= args.limit <= MAX_PAGE:
        return fail(f"--limit must be 1..{MAX_PAGE}")
    settings = load(args)
    if settings is None:
        return 1
    state = None if args.state is None else DeliveryState(args.state)

    async def page(registry: Registry) -> list[DeliveryRecord]:
        assert registry.deliveries is not None
        return await registry.deliveries.history(
            subscription=args.subscription, state=state, before=args.before, limit=args.limit
        )

    for record in with_registry(settings, page):
        print(msgspec.json.encode(record).decode())
    return 0


def run_replay(args: argparse.Namespace) -> int:
    settings = load(args)
    if settings is None:
        return 1

    async def replay(registry: Registry) -> int:
        assert registry.deliveries is not None
        if args.dead:
            return await registry.deliveries.replay_dead(subscription=args.subscription)
        found = await registry.deliveries.replay(args.id, subscription=args.subscription)
        return 1 if found else 0

    revived = with_registry(settings, replay)
    if not args.dead and not revived:
        return fail(f"delivery {args.id} is not a dead letter")
    print(f"{revived} dead deliveries are pending again")
    return 0
