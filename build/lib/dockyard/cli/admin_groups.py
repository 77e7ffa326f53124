"""``dockyard group create|list|members|delete|add-member|remove-member``: local groups.

A group is given roles in projects with ``dockyard project add-member PROJECT GROUP --group``.
Groups from LDAP or OIDC are listed too; their members follow the directory at each login.
"""

from __future__ import annotations

import argparse

from dockyard.auth.principal import Principal
from dockyard.cli.admin_common import PAGE, Actions, action, command, every
from dockyard.cli.datadir import mark_creating
from dockyard.services.identity.wiring import IdentityServices


def register(subparsers: Actions) -> None:
    actions = command(subparsers, "group", "manage groups of users")
    create = mark_creating(action(actions, "create", "create a local group", _create))
    create.add_argument("name")
    create.add_argument("--description", default="")
    listing = action(actions, "list", "list groups", _list)
    listing.add_argument("-q", "--query", default="", help="only names containing this text")
    members = action(actions, "members", "list a group's members", _members)
    members.add_argument("name")
    delete = action(actions, "delete", "delete a group (its project roles go with it)", _delete)
    delete.add_argument("name")
    for name, work, text in (
        ("add-member", _add_member, "add a user to a group"),
        ("remove-member", _remove_member, "remove a user from a group"),
    ):
        change = action(actions, name, text, work)
        change.add_argument("group")
        change.add_argument("user")


async def _create(identity: IdentityServices, me: Principal, args: argparse.Namespace) -> None:
    group = await identity.users.create_group(me, args.name, args.description)
    print(f"created group {group.name}")


async def _list(identity: IdentityServices, me: Principal, args: argparse.Namespace) -> None:
    users = identity.users
    print(f"{'NAME':<32} {'SOURCE':<10} DESCRIPTION")
    async for g in every(lambda c: users.list_groups(me, cursor=c, limit=PAGE, query=args.query)):
        print(f"{g.name:<32} {g.source:<10} {g.description}")


async def _members(identity: IdentityServices, me: Principal, args: argparse.Namespace) -> None:
    _, members = await identity.users.get_group(me, args.name)
    for user in members:
        print(user)


async def _delete(identity: IdentityServices, me: Principal, args: argparse.Namespace) -> None:
    await identity.users.delete_group(me, args.name)
    print(f"deleted group {args.name}")


async def _add_member(identity: IdentityServices, me: Principal, args: argparse.Namespace) -> None:
    await identity.users.set_group_member(me, args.group, args.user, member=True)
    print(f"{args.user} is in group {args.group}")


async def _remove_member(
    identity: IdentityServices, me: Principal, args: argparse.Namespace
) -> None:
    await identity.users.set_group_member(me, args.group, args.user, member=False)
    print(f"{args.user} is no longer in group {args.group}")
