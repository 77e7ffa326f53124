"""``dockyard immutable list|add|remove``: tag immutability rules kept in the database.

Rules from the configuration (``dockyard.immutability.rules``) are listed too, but change
only with the configuration. Every node applies a change within a few seconds.
"""

from __future__ import annotations

import argparse

from dockyard.cli.common import (
    add_config_arguments,
    audit,
    fail,
    load,
    operator,
    with_registry,
)
from dockyard.services.lifecycle.immutability import ImmutableRule
from dockyard.services.registry import Registry


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("immutable", help="tag immutability rules")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="list every rule (configured and stored)")
    add = actions.add_parser("add", help="store a rule: matching tags may not move or go")
    add.add_argument("--repositories", default="**", metavar="PATTERN", help="default: **")
    add.add_argument("--tags", required=True, metavar="PATTERN", help="e.g. 'v*'")
    remove = actions.add_parser("remove", help="remove a stored rule by its number")
    remove.add_argument("id", type=int, metavar="ID")
    for sub in (listing, add, remove):
        add_config_arguments(sub)
        sub.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = load(args)
    if settings is None:
        return 1
    try:
        return with_registry(settings, lambda registry: _act(registry, args))
    except ValueError as exc:
        return fail(f"immutable: {exc}")


async def _act(registry: Registry, args: argparse.Namespace) -> int:
    service = registry.lifecycle.immutability
    if args.action == "add":
        rule = await service.add_rule(args.repositories, args.tags, by=operator())
        detail = {"repositories": rule.repositories, "tags": rule.tags}
        await audit(registry, "immutability.add", f"rule:{rule.id}", detail)
        print(f"rule {rule.describe()}")
        return 0
    if args.action == "remove":
        if not await service.remove_rule(args.id, by=operator()):
            return fail(f"immutable: no stored rule #{args.id}")
        await audit(registry, "immutability.remove", f"rule:{args.id}")
        print(f"removed rule #{args.id}")
        return 0
    for rule in await service.rules():
        print(_line(rule))
    return 0


def _line(rule: ImmutableRule) -> str:
    origin = str(rule.id) if rule.id is not None else "config"
    return f"{origin}\t{rule.repositories}\t{rule.tags}"
