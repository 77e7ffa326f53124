"""``dockyard migrate``: apply pending metadata schema migrations and print the version.

``dockyard serve`` migrates by itself (SQLite before serving, PostgreSQL in each worker under
an advisory lock); this command lets an operator do it first, e.g. before a rolling upgrade.
"""

from __future__ import annotations

import argparse
import sys
from urllib.parse import urlsplit, urlunsplit

from dockyard.bootstrap import migrate_database
from dockyard.cli import datadir
from dockyard.cli.serve import settings_for
from dockyard.config import ConfigError
from dockyard.core.errors import RegistryError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("migrate", help="apply pending metadata schema migrations")
    parser.add_argument("--config", metavar="FILE", help="registry:2 style config.yml")
    parser.add_argument(
        "--data-dir", metavar="DIR", help="storage root, as for serve (locates the SQLite file)"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        settings = settings_for(args.config, args.data_dir)
        url = settings.database_url()
        refusal = datadir.prepare(settings, create=True)
        if refusal is not None:
            print(refusal, file=sys.stderr)
            return 1
        version = migrate_database(settings)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except RegistryError as exc:
        print(f"migrate: {exc.message}", file=sys.stderr)
        return 1
    print(f"database: {_redacted(url)}")
    print(f"schema version: {version}")
    return 0


def _redacted(url: str) -> str:
    """``url`` without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
