"""The ``dockyard`` command: ``serve``, ``worker``, ``config check``, ``config schema``, ...."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from dockyard import __version__
from dockyard.cli import (
    admin_access_tokens,
    admin_audit,
    admin_groups,
    admin_projects,
    admin_robots,
    admin_roles,
    admin_users,
    admin_webhooks,
    backup_cmd,
    completion_cmd,
    config_cmd,
    events_cmd,
    gc_cmd,
    import_cmd,
    layout_cmd,
    lifecycle_cmds,
    migrate,
    mirror_cmd,
    replication_cmd,
    sbom_cmd,
    serve,
    token_cmd,
    trust_cmd,
    vulns_cmd,
    worker_cmd,
)
from dockyard.config import ConfigError
from dockyard.core.errors import RegistryError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dockyard", description="A self-hosted container image registry."
    )
    parser.add_argument("--version", action="version", version=f"dockyard {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    serve.register(commands)
    config_cmd.register(commands)
    import_cmd.register(commands)
    migrate.register(commands)
    gc_cmd.register(commands)
    admin_users.register(commands)
    admin_projects.register(commands)
    admin_robots.register(commands)
    admin_groups.register(commands)
    admin_roles.register(commands)
    admin_access_tokens.register(commands)
    admin_audit.register(commands)
    lifecycle_cmds.register(commands)
    token_cmd.register(commands)
    events_cmd.register(commands)
    admin_webhooks.register(commands)
    worker_cmd.register(commands)
    sbom_cmd.register(commands)
    backup_cmd.register(commands)
    layout_cmd.register(commands)
    trust_cmd.register(commands)
    mirror_cmd.register(commands)
    replication_cmd.register(commands)
    vulns_cmd.register(commands)
    completion_cmd.register(commands, parser)  # last: it completes every command
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result: int = args.handler(args)
    except RegistryError as exc:  # e.g. the metadata database cannot be reached
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    return result


def entry() -> None:
    """The ``dockyard`` program (pyproject's console script): :func:`main`, then exit.

    With obstore's (S3) runtime loaded, the interpreter's finalization sometimes aborts the
    process (SIGABRT, seen after `dockyard restore` refused an S3 target), turning exit 1 into
    -6; such a process leaves without it, once the command's work is done and flushed.
    Callers of :func:`main` in a process of their own (tests) are not affected."""
    code = main()
    if "obstore" in sys.modules:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    entry()
