"""``dockyard robot create|list|revoke``: robot accounts; the secret is printed once."""

from __future__ import annotations

import argparse

from dockyard.auth.permissions import Permission
from dockyard.auth.principal import Principal
from dockyard.cli.admin_common import PAGE, Actions, action, command, every, when
from dockyard.cli.datadir import mark_creating
from dockyard.config import parse_duration
from dockyard.services.identity.robots import RobotAccess
from dockyard.services.identity.wiring import IdentityServices


def register(subparsers: Actions) -> None:
    actions = command(subparsers, "robot", "manage robot accounts")
    create = mark_creating(
        action(actions, "create", "create a robot and print its secret", _create)
    )
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
    listing = action(actions, "list", "list robots", _list)
    listing.add_argument("--project", help="a project's robots (default: system robots)")
    listing.add_argument("-q", "--query", default="", help="only names containing this text")
    revoke = action(actions, "revoke", "delete a robot: its next request is refused", _revoke)
    revoke.add_argument("name", help="the full name, robot$...")


async def _create(identity: IdentityServices, me: Principal, args: argparse.Namespace) -> None:
    expires = parse_duration(args.expires) if args.expires else None
    permissions = tuple(args.permissions or [Permission.REPOSITORY_PULL.value])
    target = args.project or args.access_project
    robot, secret = await identity.robots.create(
        me,
        args.name,
        project=args.project,
        access=[RobotAccess(target, permissions, args.repositories)],
        description=args.description,
        expires_in=expires,
    )
    print(f"name:    {robot.name}")
    print(f"secret:  {secret}")
    print(f"expires: {when(robot.expires_at)}")
    print("the secret is shown only now; store it safely")


async def _list(identity: IdentityServices, me: Principal, args: argparse.Namespace) -> None:
    print(f"{'ID':<6} {'NAME':<40} {'EXPIRES':<17} DISABLED")
    robots = identity.robots
    async for r in every(
        lambda c: robots.list_robots(me, args.project, cursor=c, limit=PAGE, query=args.query)
    ):
        print(f"{r.id:<6} {r.name:<40} {when(r.expires_at):<17} {r.disabled}")


async def _revoke(identity: IdentityServices, me: Principal, args: argparse.Namespace) -> None:
    robot = await identity.robots.find(me, args.name)
    await identity.robots.delete(me, robot.id)
    print(f"revoked {robot.name}")
