"""``dockyard project create|list|members|add-member|remove-member``."""

from __future__ import annotations

import argparse

from dockyard.auth.principal import Principal
from dockyard.cli.admin_common import add_config_options, run_identity
from dockyard.services.identity.wiring import IdentityServices


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("project", help="manage projects")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="create a project")
    create.add_argument("name")
    create.add_argument("--public", action="store_true", help="anyone may pull")
    create.add_argument("--description", default="")
    create.add_argument("--admin", metavar="USER", help="make USER the project's admin")
    create.set_defaults(handler=_create)
    listing = actions.add_parser("list", help="list projects")
    listing.set_defaults(handler=_list)
    members = actions.add_parser("members", help="list a project's members and their roles")
    members.add_argument("project")
    members.set_defaults(handler=_members)
    add = actions.add_parser("add-member", help="give a user or group a role in a project")
    add.add_argument("project")
    add.add_argument("name", help="a user (or with --group, a group)")
    add.add_argument("--role", required=True, help="admin, maintainer, developer, guest, ...")
    add.add_argument("--group", action="store_true", help="NAME is a group")
    add.add_argument("--repositories", default="", metavar="PATTERN", help="e.g. 'ci-*'")
    add.set_defaults(handler=_add_member)
    remove = actions.add_parser("remove-member", help="remove a membership (by its id)")
    remove.add_argument("project")
    remove.add_argument("id", type=int)
    remove.set_defaults(handler=_remove_member)
    for sub in (create, listing, members, add, remove):
        add_config_options(sub)


def _create(args: argparse.Namespace) -> int:
    async def work(identity: IdentityServices, me: Principal) -> None:
        project = await identity.projects.create(
            me, args.name, public=args.public, description=args.description
        )
        print(f"created {'public' if project.public else 'private'} project {project.name}")
        if args.admin:
            await identity.members.add(me, project.name, kind="user", name=args.admin, role="admin")
            print(f"{args.admin} is its admin")

    return run_identity(args, work)


def _list(args: argparse.Namespace) -> int:
    async def work(identity: IdentityServices, me: Principal) -> None:
        cursor: str | None = ""
        print(f"{'NAME':<32} {'VISIBILITY':<10} DESCRIPTION")
        while cursor is not None:
            page = await identity.projects.list_projects(me, cursor=cursor, limit=500)
            for p in page.items:
                print(f"{p.name:<32} {'public' if p.public else 'private':<10} {p.description}")
            cursor = page.next

    return run_identity(args, work)


def _members(args: argparse.Namespace) -> int:
    async def work(identity: IdentityServices, me: Principal) -> None:
        found = await identity.members.list_members(me, args.project)
        print(f"{'ID':<6} {'KIND':<6} {'NAME':<32} {'ROLE':<12} REPOSITORIES")
        for m in found:
            print(f"{m.id:<6} {m.kind:<6} {m.name:<32} {m.role:<12} {m.repositories or '*'}")

    return run_identity(args, work)


def _add_member(args: argparse.Namespace) -> int:
    async def work(identity: IdentityServices, me: Principal) -> None:
        kind = "group" if args.group else "user"
        member = await identity.members.add(
            me, args.project, kind=kind, name=args.name, role=args.role,
            repositories=args.repositories,
        )  # fmt: skip
        print(f"{kind} {member.name} is {member.role} in {args.project} (member id {member.id})")

    return run_identity(args, work)


def _remove_member(args: argparse.Namespace) -> int:
    async def work(identity: IdentityServices, me: Principal) -> None:
        await identity.members.remove(me, args.project, args.id)
        print(f"removed member {args.id} from {args.project}")

    return run_identity(args, work)
