"""``dockyard user add|list|passwd|delete``: local users, straight in the database."""

from __future__ import annotations

import argparse

from dockyard.auth.principal import Principal
from dockyard.cli.admin_common import PAGE, Actions, action, command, every, read_password
from dockyard.cli.datadir import mark_creating
from dockyard.services.identity.wiring import IdentityServices


def register(subparsers: Actions) -> None:
    actions = command(subparsers, "user", "manage local users")
    add = mark_creating(action(actions, "add", "create a local user", _add))
    add.add_argument("name")
    add.add_argument("--admin", action="store_true", help="a system administrator")
    add.add_argument("--email", default="")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    action(actions, "list", "list users", _list)
    passwd = action(actions, "passwd", "set a user's password", _passwd)
    passwd.add_argument("name")
    passwd.add_argument("--password-stdin", action="store_true")
    delete = action(actions, "delete", "delete a user", _delete)
    delete.add_argument("name")


async def _add(identity: IdentityServices, me: Principal, args: argparse.Namespace) -> None:
    password = read_password(args)
    user = await identity.users.create(me, args.name, password, email=args.email, admin=args.admin)
    print(f"created user {user.name}" + (" (system administrator)" if user.admin else ""))


async def _list(identity: IdentityServices, me: Principal, args: argparse.Namespace) -> None:
    print(f"{'NAME':<24} {'SOURCE':<10} {'ADMIN':<6} {'DISABLED':<9} EMAIL")
    async for u in every(lambda c: identity.users.list_users(me, cursor=c, limit=PAGE)):
        print(f"{u.name:<24} {u.source:<10} {u.admin!s:<6} {u.disabled!s:<9} {u.email}")


async def _passwd(identity: IdentityServices, me: Principal, args: argparse.Namespace) -> None:
    password = read_password(args, "New password")
    await identity.users.update(me, args.name, password=password)
    print(f"password of {args.name} changed")


async def _delete(identity: IdentityServices, me: Principal, args: argparse.Namespace) -> None:
    await identity.users.delete(me, args.name)
    print(f"deleted user {args.name}")
