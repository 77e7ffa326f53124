"""``dockyard project create|list|members|add-member|remove-member``."""

from __future__ import annotations

import argparse

from dockyard.auth.principal import Principal
from dockyard.cli.admin_common import PAGE, Actions, action, command, every
from dockyard.cli.datadir import mark_creating
from dockyard.services.identity.wiring import IdentityServices


def register(subparsers: Actions) -> None:
    actions = command(subparsers, "project", "manage projects")
    create = mark_creating(action(actions, "create", "create a project", _create))
    create.add_argument("name")
    create.add_argument("--public", action="store_true", help="anyone may pull")
    create.add_argument("--description", default="")
    create.add_argument("--admin", metavar="USER", help="make USER the project's admin")
    action(actions, "list", "list projects", _list)
    members = action(actions, "members", "list a project's members and their roles", _members)
    members.add_argument("project")
    add = action(actions, "add-member", "give a user or group a role in a project", _add_member)
    add.add_argument("project")
    add.add_argument("name", help="a user (or with --group, a group)")
    add.add_argument("--role", required=True, help="admin, maintainer, developer, guest, ...")
    add.add_argument("--group", action="store_true", help="NAME is a group")
    add.add_argument("--repositories", default="", metavar="PATTERN", help="e.g. 'ci-*'")
    remove = action(actions, "remove-member", "remove a membership (by its id)", _remove_member)
    remove.add_argument("project")
    remove.add_argument("id", type=int)


async def _create(identity: IdentityServices, me: Principal, args: argparse.Namespace) -> None:
    project = await identity.projects.create(
        me, args.name, public=args.public, description=args.description
    )
    print(f"created {'public' if project.public else 'private'} project {project.name}")
    if args.admin:
        await identity.members.add(me, project.name, kind="user", name=args.admin, role="admin")
        print(f"{args.admin} is its admin")


async def _list(identity: IdentityServices, me: Principal, args: argparse.Namespace) -> None:
    print(f"{'NAME':<32} {'VISIBILITY':<10} DESCRIPTION")
    async for p in every(lambda c: identity.projects.list_projects(me, cursor=c, limit=PAGE)):
        print(f"{p.name:<32} {'public' if p.public else 'private':<10} {p.description}")


async def _members(identity: IdentityServices, me: Principal, args: argparse.Namespace) -> None:
    found = await identity.members.list_members(me, args.project)
    print(f"{'ID':<6} {'KIND':<6} {'NAME':<32} {'ROLE':<12} REPOSITORIES")
    for m in found:
        print(f"{m.id:<6} {m.kind:<6} {m.name:<32} {m.role:<12} {m.repositories or '*'}")


async def _add_member(identity: IdentityServices, me: Principal, args: argparse.Namespace) -> None:
    kind = "group" if args.group else "user"
    member = await identity.members.add(
        me, args.project, kind=kind, name=args.name, role=args.role, repositories=args.repositories
    )
    print(f"{kind} {member.name} is {member.role} in {args.project} (member id {member.id})")


async def _remove_member(
    identity: IdentityServices, me: Principal, args: argparse.Namespace
) -> None:
    await identity.members.remove(me, args.project, args.id)
    print(f"removed member {args.id} from {args.project}")
