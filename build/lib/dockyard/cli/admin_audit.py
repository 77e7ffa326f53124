"""``dockyard audit export``: the audit log as JSON lines, oldest first (the same lines as
``GET /api/v1/audit/export``)."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from dockyard.auth.principal import Principal
from dockyard.cli.admin_common import Actions, action, command
from dockyard.services.identity.audit import export_line, parse_time
from dockyard.services.identity.records import AuditQuery
from dockyard.services.identity.wiring import IdentityServices


def register(subparsers: Actions) -> None:
    actions = command(subparsers, "audit", "the audit log")
    export = action(actions, "export", "print events as JSON lines", _export)
    export.add_argument("--since", help="RFC 3339 time or seconds since the epoch")
    export.add_argument("--until", help="RFC 3339 time or seconds since the epoch")
    export.add_argument("--actor", default="")
    export.add_argument("--event", default="", help='e.g. login, or a prefix such as "user."')
    export.add_argument("--target", default="", help='e.g. "project:team-a"')
    export.add_argument("--outcome", default="", choices=("", "success", "failure"))
    export.add_argument("--output", "-o", metavar="FILE", help="write here instead of stdout")


async def _export(identity: IdentityServices, me: Principal, args: argparse.Namespace) -> None:
    query = AuditQuery(
        actor=args.actor,
        event=args.event,
        target=args.target,
        outcome=args.outcome,
        since=parse_time(args.since),
        until=parse_time(args.until),
    )
    out: TextIO = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout  # noqa: SIM115
    try:
        async for event in identity.audit.export(me, query):
            out.write(export_line(event) + "\n")
    finally:
        if out is not sys.stdout:
            out.close()
