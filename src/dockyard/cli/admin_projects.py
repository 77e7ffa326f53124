"""``dockyard project create|list``."""

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
    for sub in (create, listing):
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
