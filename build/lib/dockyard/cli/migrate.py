"""``dockyard migrate``: apply pending metadata schema migrations and print the version.

``dockyard serve`` migrates by itself (SQLite before serving, PostgreSQL in each worker under
an advisory lock); this command lets an operator do it first, e.g. before a rolling upgrade.
``--check`` lists what would run and changes nothing (exit 1 when something would); ``--to
VERSION`` moves the schema to that version, back to an older one for a downgrade when the
steps in between can be undone (docs/database.md).
"""

from __future__ import annotations

import argparse
import sys
from urllib.parse import urlsplit, urlunsplit

from dockyard.bootstrap import migrate_database, migration_plan
from dockyard.cli import datadir
from dockyard.cli.serve import settings_for
from dockyard.config import ConfigError, Settings
from dockyard.core.errors import MigrationError, RegistryError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("migrate", help="apply pending metadata schema migrations")
    parser.add_argument("--config", metavar="FILE", help="registry:2 style config.yml")
    parser.add_argument(
        "--data-dir", metavar="DIR", help="storage root, as for serve (locates the SQLite file)"
    )
    parser.add_argument(
        "--check", action="store_true", help="list what would run; change nothing (exit 1 if any)"
    )
    parser.add_argument(
        "--to", metavar="VERSION", type=int, help="move the schema to VERSION (back, to downgrade)"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        settings = settings_for(args.config, args.data_dir)
        url = settings.database_url()
        refusal = datadir.prepare(settings, create=not args.check)
        if refusal is not None:
            print(refusal, file=sys.stderr)
            return 1
        print(f"database: {_redacted(url)}")
        if args.check:
            return _check(settings, args.to)
        version = migrate_database(settings, args.to)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except RegistryError as exc:
        print(f"migrate: {exc.message}", file=sys.stderr)
        return 1
    except MigrationError as exc:
        print(f"migrate: {exc}", file=sys.stderr)
        return 1
    print(f"schema version: {version}")
    return 0


def _check(settings: Settings, target: int | None) -> int:
    planned = migration_plan(settings, target)
    print(f"schema version: {planned.current}")
    if not planned.steps:
        print(f"nothing to do: the schema is at version {planned.target}")
        return 0
    verb = "apply" if planned.target > planned.current else "undo"
    print(f"would {verb} {len(planned.steps)} step(s) to reach version {planned.target}:")
    for step in planned.steps:
        print(f"  {step.direction} {step.number}: {step.summary}")
    return 1


def _redacted(url: str) -> str:
    """``url`` without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
