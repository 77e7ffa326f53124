"""``dockyard replication add|list|show|remove|run|runs|stop``: replication policies and runs.

Run as the operator (a system administrator). The peer's password is read from stdin
(``--password-stdin``), never from the command line; no command prints it. ``run`` queues a
run for the server's (or a worker's) job runner and, with ``--wait``, follows it to its end;
``run --dry-run`` plans it here and prints the plan.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable

import msgspec

from dockyard.auth.principal import Principal
from dockyard.cli.admin_common import Actions, Handler, UsageError, add_config_options, command
from dockyard.cli.admin_common import run_with_registry as run
from dockyard.cli.common import operator
from dockyard.config import ConfigError, parse_duration
from dockyard.services.registry import Registry
from dockyard.services.replication.policy import Credentials, Policy
from dockyard.services.replication.service import (
    PolicyInput,
    ReplicationService,
    RunDetail,
    RunView,
)

Work = Callable[[ReplicationService, Principal, argparse.Namespace], Awaitable[None]]
OVER = ("done", "failed", "stopped")


def _handler(work: Work) -> Handler:
    def handler(args: argparse.Namespace) -> int:
        async def with_replication(registry: Registry) -> None:
            if registry.replication is None:
                raise UsageError("replication needs the job queue")
            await work(registry.replication, operator(), args)

        return run(args, with_replication)

    return handler


def _action(actions: Actions, name: str, text: str, work: Work) -> argparse.ArgumentParser:
    parser = actions.add_parser(name, help=text)
    add_config_options(parser)
    parser.set_defaults(handler=_handler(work))
    return parser


def _policy_options(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("name")
    add("--url", required=True, help="the peer registry, e.g. https://registry.example.com")
    add("--direction", choices=("push", "pull"), default="push",
        help="push: from here to the peer (default); pull: from the peer to here")  # fmt: skip
    add("--repository", action="append", dest="repositories", metavar="PATTERN",
        help="glob, regex:RE or !PATTERN (repeat; default: every repository)")  # fmt: skip
    add("--tag", action="append", dest="tags", metavar="PATTERN",
        help="glob, regex:RE, semver:RANGE or !PATTERN (repeat; default: every tag)")  # fmt: skip
    add("--platform", action="append", dest="platforms", metavar="OS/ARCH[/VARIANT]",
        help="only these platforms of an index (repeat)")  # fmt: skip
    add("--strip", default="", help="removed from the front of a source name")
    add("--prefix", default="", help="added in front of the target name")
    add("--on-push", action="store_true", help="copy what is pushed here as it is pushed")
    add("--interval", metavar="DURATION", help="a scheduled run (a reconcile) every DURATION")
    add("--no-overwrite", action="store_true", help="never move a tag the target has")
    add("--mirror-deletions", action="store_true", help="delete tags the source no longer has")
    add("--bandwidth", type=int, default=0, metavar="BYTES/S", help="0: no limit")
    add("--parallel", type=int, default=4, help="images and blobs copied at once (default 4)")
    add("--username", default="", help="the peer's user (the password from stdin)")
    add("--password-stdin", action="store_true", help="read the peer's password from stdin")
    add("--disabled", action="store_true", help="create it switched off")


def register(subparsers: Actions) -> None:
    actions = command(subparsers, "replication", "copy images to or from other registries")
    _policy_options(_action(actions, "add", "create a replication policy", _add))
    _action(actions, "list", "list replication policies", _list)
    _action(actions, "show", "a policy and its last runs", _show).add_argument("name")
    _action(actions, "remove", "delete a policy and its runs", _remove).add_argument("name")
    start = _action(actions, "run", "queue a run of a policy (or plan one)", _run)
    start.add_argument("name")
    start.add_argument("--dry-run", action="store_true", help="print the plan, copy nothing")
    start.add_argument("--wait", action="store_true", help="follow the run to its end")
    runs = _action(actions, "runs", "a policy's runs, or one run with its results", _runs)
    runs.add_argument("name", nargs="?", help="a policy (default: every policy)")
    runs.add_argument("--id", type=int, help="show this run with its per-image results")
    stop = _action(actions, "stop", "stop a run (its copies stop within seconds)", _stop)
    stop.add_argument("id", type=int)


def _interval(text: str | None) -> int:
    if not text:
        return 0
    try:
        return int(parse_duration(text))
    except ConfigError as exc:
        raise UsageError(f"--interval: {exc.message}") from None


async def _add(service: ReplicationService, me: Principal, args: argparse.Namespace) -> None:
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else ""
    policy = Policy(
        name=args.name, url=args.url, direction=args.direction,
        repositories=args.repositories or ["**"], tags=args.tags or [],
        platforms=args.platforms or [], strip=args.strip, prefix=args.prefix,
        on_push=args.on_push, interval_seconds=_interval(args.interval),
        overwrite=not args.no_overwrite, mirror_deletions=args.mirror_deletions,
        bandwidth=args.bandwidth, parallel=args.parallel, enabled=not args.disabled,
    )  # fmt: skip
    view = await service.create(me, PolicyInput(policy=policy,
                                credentials=Credentials(args.username, password)))  # fmt: skip
    print(f"created replication policy {view.policy.name} ({view.policy.direction} "
          f"{view.policy.url})")  # fmt: skip


async def _list(service: ReplicationService, me: Principal, args: argparse.Namespace) -> None:
    print(f"{'NAME':<24} {'DIRECTION':<9} {'TRIGGERS':<22} URL")
    for view in await service.policies(me):
        policy = view.policy
        triggers = ["manual"]
        if policy.on_push:
            triggers.append("push")
        if policy.interval_seconds:
            triggers.append(f"every {policy.interval_seconds}s")
        state = "" if policy.enabled else " (disabled)"
        print(f"{policy.name:<24} {policy.direction:<9} {','.join(triggers):<22} "
              f"{policy.url}{state}")  # fmt: skip


async def _show(service: ReplicationService, me: Principal, args: argparse.Namespace) -> None:
    view = await service.show(me, args.name)
    print(msgspec.json.format(msgspec.json.encode(view), indent=2).decode())
    _print_runs(await service.runs(me, args.name, 10))


async def _remove(service: ReplicationService, me: Principal, args: argparse.Namespace) -> None:
    await service.remove(me, args.name)
    print(f"removed replication policy {args.name}")


async def _run(service: ReplicationService, me: Principal, args: argparse.Namespace) -> None:
    view = await service.start(me, args.name, dry_run=args.dry_run)
    if args.dry_run:
        _print_detail(await service.detail(me, view.id))
        return
    print(f"queued run {view.id} of {args.name}")
    if not args.wait:
        return
    while view.state not in OVER:
        await asyncio.sleep(1.0)
        view = await service.run(me, view.id)
    _print_detail(await service.detail(me, view.id))
    if view.state != "done":
        raise UsageError(f"run {view.id} ended {view.state}")


async def _runs(service: ReplicationService, me: Principal, args: argparse.Namespace) -> None:
    if args.id is not None:
        _print_detail(await service.detail(me, args.id))
        return
    _print_runs(await service.runs(me, args.name, 50))


async def _stop(service: ReplicationService, me: Principal, args: argparse.Namespace) -> None:
    view = await service.stop(me, args.id)
    print(f"run {view.id}: stop asked ({view.state})")


def _print_runs(runs: list[RunView]) -> None:
    print(f"{'RUN':<6} {'POLICY':<20} {'TRIGGER':<8} {'STATE':<8} {'SECONDS':>8} SUMMARY")
    for view in runs:
        kind = view.trigger + (" (dry)" if view.dry_run else "")
        took = view.finished_at - view.started_at if view.finished_at and view.started_at else 0
        seconds = f"{took:.3f}" if took else "-"
        print(f"{view.id:<6} {view.policy:<20} {kind:<8} {view.state:<8} {seconds:>8} "
              f"{view.summary}")  # fmt: skip


def _print_detail(detail: RunDetail) -> None:
    _print_runs([detail.run])
    for item in detail.items:
        error = f"  {item.error}" if item.error else ""
        print(f"  {item.outcome:<8} {item.source or '-'} -> {item.target} "
              f"{item.digest}{error}".rstrip())  # fmt: skip
