"""``dockyard audit export``: the audit log as JSON lines, oldest first."""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from typing import TextIO

from dockyard.auth.principal import Principal
from dockyard.cli.admin_common import add_config_options, run_identity
from dockyard.services.identity.records import AuditEvent, AuditQuery
from dockyard.services.identity.wiring import IdentityServices


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("audit", help="the audit log")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    export = actions.add_parser("export", help="print events as JSON lines")
    export.add_argument("--since", help="RFC 3339 time or seconds since the epoch")
    export.add_argument("--until", help="RFC 3339 time or seconds since the epoch")
    export.add_argument("--actor", default="")
    export.add_argument("--event", default="", help='e.g. login, or a prefix such as "user."')
    export.add_argument("--output", "-o", metavar="FILE", help="write here instead of stdout")
    export.set_defaults(handler=_export)
    add_config_options(export)


def _time(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=datetime.UTC)
        return moment.timestamp()


def line(event: AuditEvent) -> str:
    moment = datetime.datetime.fromtimestamp(event.created_at, datetime.UTC)
    record = {
        "id": event.id,
        "time": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "actor": event.actor,
        "actor_kind": event.actor_kind,
        "event": event.event,
        "target": event.target,
        "client": event.client,
        "outcome": event.outcome,
        "detail": json.loads(event.detail_json or "{}"),
    }
    return json.dumps(record, separators=(",", ":"))


def _export(args: argparse.Namespace) -> int:
    try:
        query = AuditQuery(
            actor=args.actor, event=args.event, since=_time(args.since), until=_time(args.until)
        )
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None

    async def work(identity: IdentityServices, me: Principal) -> None:
        out: TextIO = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout  # noqa: SIM115
        try:
            async for event in identity.audit.export(me, query):
                out.write(line(event) + "\n")
        finally:
            if out is not sys.stdout:
                out.close()

    return run_identity(args, work)
