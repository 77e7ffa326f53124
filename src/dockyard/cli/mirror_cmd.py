"""``dockyard mirror add|list|show|remove|warm``: the pull-through cache's upstreams.

``warm REF...`` queues a ``mirror.warm`` job that pulls the images through the cache (any
worker or server takes it; ``dockyard jobs`` shows its result).

Run as the operator (a system administrator, audited as ``cli:<os user>``). An upstream added
here is stored in the metadata database: every node serves it within seconds, no restart.
Those of the configuration file (``dockyard.mirror.upstreams``) are listed, not removable.
The upstream's password is read from stdin (``--password-stdin``) or asked for, never taken
on the command line.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable

import msgspec

from dockyard.cli.admin_common import Actions, add_config_options, command, read_password
from dockyard.cli.admin_common import run_with_registry as run
from dockyard.cli.common import fail, operator
from dockyard.config.mirror import BreakerSettings, UpstreamSettings
from dockyard.services.registry import Registry
from dockyard.services.upstream.admin import MirrorAdmin, UpstreamView
from dockyard.services.upstream.warm import KIND as WARM_KIND
from dockyard.services.upstream.warm import MAX_REFERENCES, parse_reference

Work = Callable[[MirrorAdmin, argparse.Namespace], Awaitable[None]]


def register(subparsers: Actions) -> None:
    actions = command(subparsers, "mirror", "manage the pull-through cache's upstreams")
    _action(actions, "list", "list the upstreams", _list)
    show = _action(actions, "show", "show one upstream (JSON)", _show)
    show.add_argument("name")
    remove = _action(actions, "remove", "remove an upstream added at run time", _remove)
    remove.add_argument("name")
    add = _action(actions, "add", "cache an upstream under a repository prefix", _add)
    add.add_argument("name")
    add.add_argument("--prefix", required=True, help="local prefix, e.g. hub")
    add.add_argument("--url", required=True, help="the upstream, e.g. https://registry-1.docker.io")
    add.add_argument("--remote-prefix", default="", help="prepended upstream, e.g. library")
    add.add_argument(
        "--namespace", action="append", dest="namespaces", default=[], metavar="HOST",
        help="a registry host the OCI ns parameter names, e.g. docker.io (repeat)",
    )  # fmt: skip
    add.add_argument("--username", default="", help="upstream account (password asked)")
    add.add_argument("--password-stdin", action="store_true", help="read the password")
    add.add_argument("--tag-ttl", default="", metavar="DURATION")
    add.add_argument("--staleness", default="", metavar="DURATION")
    add.add_argument("--breaker-failures", type=int, metavar="N")
    add.add_argument("--breaker-cooldown", default="10s", metavar="DURATION")
    warm = actions.add_parser("warm", help="pre-fill the cache with images (a queued job)")
    add_config_options(warm)
    warm.add_argument("references", nargs="+", metavar="REF", help="e.g. hub/library/alpine:3.20")
    warm.set_defaults(handler=_warm_handler)


def _action(actions: Actions, name: str, text: str, work: Work) -> argparse.ArgumentParser:
    parser = actions.add_parser(name, help=text)
    add_config_options(parser)
    parser.set_defaults(handler=_handler(work))
    return parser


def _handler(work: Work) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        async def with_admin(registry: Registry) -> None:
            assert registry.mirror_admin is not None  # always built (bootstrap_mirror)
            await work(registry.mirror_admin, args)

        return run(args, with_admin)

    return handler


async def _list(admin: MirrorAdmin, args: argparse.Namespace) -> None:
    upstreams = await admin.list(operator())
    print(f"{'NAME':20} {'PREFIX':20} {'SOURCE':7} URL")
    for view in upstreams:
        print(f"{view.name:20} {view.prefix + '/':20} {view.source:7} {view.url}")


async def _show(admin: MirrorAdmin, args: argparse.Namespace) -> None:
    print(_json(await admin.show(operator(), args.name)))


async def _remove(admin: MirrorAdmin, args: argparse.Namespace) -> None:
    await admin.remove(operator(), args.name)
    print(f"removed {args.name}")


async def _add(admin: MirrorAdmin, args: argparse.Namespace) -> None:
    password = read_password(args, "Upstream password") if args.username else ""
    breaker = None
    if args.breaker_failures is not None:
        breaker = BreakerSettings(failures=args.breaker_failures, cooldown=args.breaker_cooldown)
    settings = UpstreamSettings(
        name=args.name,
        prefix=args.prefix,
        url=args.url,
        remoteprefix=args.remote_prefix,
        namespaces=args.namespaces,
        username=args.username,
        password=password,
        tagttl=args.tag_ttl,
        staleness=args.staleness,
        breaker=breaker,
    )
    print(_json(await admin.add(operator(), settings)))


def _warm_handler(args: argparse.Namespace) -> int:
    """Queue one ``mirror.warm`` job for every reference; a worker (or serve) runs it."""
    try:
        for text in args.references:
            parse_reference(text)
    except ValueError as exc:
        return fail(f"error: {exc}")
    if len(args.references) > MAX_REFERENCES:
        return fail(f"error: at most {MAX_REFERENCES} references per job")

    async def queue(registry: Registry) -> None:
        assert registry.jobs is not None  # built with the registry
        payload = {"references": list(args.references)}
        job_id = await registry.jobs.enqueue(WARM_KIND, payload)
        print(f"job {job_id} queued ({WARM_KIND}, {len(args.references)} references)")

    return run(args, queue)


def _json(view: UpstreamView) -> str:
    return msgspec.json.format(msgspec.json.encode(view)).decode()
