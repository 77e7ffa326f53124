"""``dockyard maintenance readonly on|off|status``: read-only mode, switched while serving."""

from __future__ import annotations

import argparse
import getpass
import socket

from dockyard.cli.common import add_config_arguments, audit, load, operator, with_registry
from dockyard.services.lifecycle.readonly import ReadOnlyState
from dockyard.services.registry import Registry


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("maintenance", help="maintenance switches (read-only mode)")
    switches = parser.add_subparsers(dest="switch", metavar="SWITCH", required=True)
    readonly = switches.add_parser(
        "readonly", help="refuse pushes and deletes on every node (within seconds), or allow again"
    )
    readonly.add_argument("state", choices=("on", "off", "status"))
    readonly.add_argument("--reason", default="", help="shown to clients whose writes are refused")
    add_config_arguments(readonly)
    readonly.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = load(args)
    if settings is None:
        return 1
    state = with_registry(settings, lambda registry: _act(registry, args))
    print(describe(state))
    return 0


async def _act(registry: Registry, args: argparse.Namespace) -> ReadOnlyState:
    gate = registry.lifecycle.gate
    if args.state != "status":
        who = f"{getpass.getuser()}@{socket.gethostname()}"
        await gate.switch(args.state == "on", reason=args.reason, by=who, actor=operator())
        detail = {"readonly": args.state == "on", "reason": args.reason}
        await audit(registry, "system.settings", "system:readonly", detail)
    return await gate.state()


def describe(state: ReadOnlyState) -> str:
    if state.configured:
        return "read-only: on (storage.maintenance.readonly.enabled in the configuration)"
    if state.switched:
        return "read-only: on" + (f" ({state.reason})" if state.reason else "")
    return "read-only: off"
