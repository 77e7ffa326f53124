"""``dockyard robot create|list|revoke``: robot accounts; the secret is printed once."""

from __future__ import annotations

import argparse

from dockyard.auth.permissions import Permission
from dockyard.auth.principal import Principal
from dockyard.cli.admin_common import add_config_options, run_identity, when
from dockyard.config import ConfigError, parse_duration
from dockyard.services.identity.robots import RobotAccess
from dockyard.services.identity.wiring import IdentityServices


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("robot", help="manage robot accounts")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="create a robot and print its secret")
    create.add_argument("name", help="short name: robot$<project>+<name> (or robot$<name>)")
    create.add_argument("--project", help="the robot's project (default: a system robot)")
    create.add_argument(
        "--permission",
        action="append",
        dest="permissions",
        metavar="PERMISSION",
        help="e.g. repository:pull (repeat; default: repository:pull)",
    )
    create.add_argument("--repositories", default="", help='a pattern, e.g. "ci-*"')
    create.add_argument(
        "--access-project", default="*", help="system robots: the project reached (default *)"
    )
    create.add_argument("--expires", metavar="DURATION", help="e.g. 720h (default: never)")
    create.add_argument("--description", default="")
    create.set_defaults(handler=_create)
    listing = actions.add_parser("list", help="list robots")
    listing.add_argument("--project", help="a project's robots (default: system robots)")
    listing.set_defaults(handler=_list)
    revoke = actions.add_parser("revoke", help="delete a robot: its next request is refused")
    revoke.add_argument("name", help="the full name, robot$...")
    revoke.set_defaults(handler=_revoke)
    for sub in (create, listing, revoke):
        add_config_options(sub)


def _create(args: argparse.Namespace) -> int:
    try:
        expires = parse_duration(args.expires) if args.expires else None
    except ConfigError as exc:
        raise SystemExit(f"error: --expires: {exc.message}") from None
    permissions = tuple(args.permissions or [Permission.REPOSITORY_PULL.value])
    target = args.project or args.access_project
    access = [RobotAccess(target, permissions, args.repositories)]

    async def work(identity: IdentityServices, me: Principal) -> None:
        robot, secret = await identity.robots.create(
            me,
            args.name,
            project=args.project,
            access=access,
            description=args.description,
            expires_in=expires,
        )
        print(f"name:    {robot.name}")
        print(f"secret:  {secret}")
        print(f"expires: {when(robot.expires_at)}")
        print("the secret is shown only now; store it safely")

    return run_identity(args, work)


def _list(args: argparse.Namespace) -> int:
    async def work(identity: IdentityServices, me: Principal) -> None:
        cursor: str | None = ""
        print(f"{'ID':<6} {'NAME':<40} {'EXPIRES':<17} DISABLED")
        while cursor is not None:
            page = await identity.robots.list_robots(me, args.project, cursor=cursor, limit=500)
            for r in page.items:
                print(f"{r.id:<6} {r.name:<40} {when(r.expires_at):<17} {r.disabled}")
            cursor = page.next

    return run_identity(args, work)


def _revoke(args: argparse.Namespace) -> int:
    async def work(identity: IdentityServices, me: Principal) -> None:
        robot = await identity.robots.find(me, args.name)
        await identity.robots.delete(me, robot.id)
        print(f"revoked {robot.name}")

    return run_identity(args, work)
