"""``dockyard user add|list|passwd|delete``: local users, straight in the database."""

from __future__ import annotations

import argparse

from dockyard.auth.principal import Principal
from dockyard.cli.admin_common import add_config_options, read_password, run_identity
from dockyard.services.identity.wiring import IdentityServices


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("user", help="manage local users")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="create a local user")
    add.add_argument("name")
    add.add_argument("--admin", action="store_true", help="a system administrator")
    add.add_argument("--email", default="")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    add.set_defaults(handler=_add)
    listing = actions.add_parser("list", help="list users")
    listing.set_defaults(handler=_list)
    passwd = actions.add_parser("passwd", help="set a user's password")
    passwd.add_argument("name")
    passwd.add_argument("--password-stdin", action="store_true")
    passwd.set_defaults(handler=_passwd)
    delete = actions.add_parser("delete", help="delete a user")
    delete.add_argument("name")
    delete.set_defaults(handler=_delete)
    for sub in (add, listing, passwd, delete):
        add_config_options(sub)


def _add(args: argparse.Namespace) -> int:
    password = read_password(args)

    async def work(identity: IdentityServices, me: Principal) -> None:
        user = await identity.users.create(
            me, args.name, password, email=args.email, admin=args.admin
        )
        print(f"created user {user.name}" + (" (system administrator)" if user.admin else ""))

    return run_identity(args, work)


def _list(args: argparse.Namespace) -> int:
    async def work(identity: IdentityServices, me: Principal) -> None:
        cursor: str | None = ""
        print(f"{'NAME':<24} {'SOURCE':<10} {'ADMIN':<6} {'DISABLED':<9} EMAIL")
        while cursor is not None:
            page = await identity.users.list_users(me, cursor=cursor, limit=500)
            for u in page.items:
                print(f"{u.name:<24} {u.source:<10} {u.admin!s:<6} {u.disabled!s:<9} {u.email}")
            cursor = page.next

    return run_identity(args, work)


def _passwd(args: argparse.Namespace) -> int:
    password = read_password(args, "New password")

    async def work(identity: IdentityServices, me: Principal) -> None:
        await identity.users.update(me, args.name, password=password)
        print(f"password of {args.name} changed")

    return run_identity(args, work)


def _delete(args: argparse.Namespace) -> int:
    async def work(identity: IdentityServices, me: Principal) -> None:
        await identity.users.delete(me, args.name)
        print(f"deleted user {args.name}")

    return run_identity(args, work)
