"""``dockyard role create|list|delete``: custom roles, each a named set of project permissions.

The built-in roles (admin, maintainer, developer, guest) are listed but cannot be changed or
deleted; a custom role still granted to a member cannot be deleted either.
"""

from __future__ import annotations

import argparse

from dockyard.auth.principal import Principal
from dockyard.cli.admin_common import Actions, action, command
from dockyard.cli.datadir import mark_creating
from dockyard.services.identity.members import role_permissions
from dockyard.services.identity.wiring import IdentityServices


def register(subparsers: Actions) -> None:
    actions = command(subparsers, "role", "manage custom roles")
    create = mark_creating(
        action(actions, "create", "create a custom role from permissions", _create)
    )
    create.add_argument("name", help="lower case letters, digits, - and _")
    create.add_argument(
        "--permission",
        action="append",
        dest="permissions",
        required=True,
        metavar="PERMISSION",
        help="e.g. repository:pull, repository:push, tag:delete (repeat)",
    )
    create.add_argument("--description", default="")
    action(actions, "list", "list roles and their permissions", _list)
    delete = action(actions, "delete", "delete a custom role nobody holds", _delete)
    delete.add_argument("name")


async def _create(identity: IdentityServices, me: Principal, args: argparse.Namespace) -> None:
    role = await identity.members.save_role(
        me, args.name, permissions=args.permissions, description=args.description, create=True
    )
    print(f"created role {role.name}: {' '.join(role.permissions)}")


async def _list(identity: IdentityServices, me: Principal, args: argparse.Namespace) -> None:
    print(f"{'NAME':<20} {'KIND':<8} PERMISSIONS")
    for role in await identity.members.roles(me):
        kind = "built-in" if role.builtin else "custom"
        print(f"{role.name:<20} {kind:<8} {' '.join(sorted(role_permissions(role)))}")


async def _delete(identity: IdentityServices, me: Principal, args: argparse.Namespace) -> None:
    await identity.members.delete_role(me, args.name)
    print(f"deleted role {args.name}")
