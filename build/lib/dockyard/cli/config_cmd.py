"""``dockyard config check`` and ``dockyard config schema``."""

from __future__ import annotations

import argparse
import json
import os
import sys

from dockyard.auth import htpasswd_provision
from dockyard.config import ConfigError, load_settings, settings_json_schema
from dockyard.config.ignored import ignored_warnings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``config`` command group to the top-level parser's subparsers."""
    config = subparsers.add_parser("config", help="check or describe the configuration")
    commands = config.add_subparsers(dest="config_command", metavar="COMMAND", required=True)

    check = commands.add_parser(
        "check", help="load config.yml plus REGISTRY_* variables and report the first problem"
    )
    check.add_argument(
        "--config", metavar="FILE", default=None, help="registry:2 style config.yml to check"
    )
    check.set_defaults(handler=check_config)

    schema = commands.add_parser("schema", help="print the JSON Schema of the config file")
    schema.set_defaults(handler=print_schema)


def check_config(args: argparse.Namespace) -> int:
    """Exit 0 with ``ok: FILE`` when the configuration loads, else 1 with the error line.

    Warnings (keys accepted but ignored, an htpasswd file serve will create) go to stderr; an
    htpasswd file serve could not create is an error, as it is for serve.
    """
    try:
        settings = load_settings(args.config, os.environ)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    for warning in ignored_warnings(settings):
        print(f"warning: {warning}", file=sys.stderr)
    if settings.auth.htpasswd is not None:
        provisioning = htpasswd_provision.plan(os.path.abspath(settings.auth.htpasswd.path))
        if provisioning is not None and not provisioning[0]:
            print(f"config: {provisioning[1]}", file=sys.stderr)
            return 1
        if provisioning is not None:
            print(f"warning: {provisioning[1]}", file=sys.stderr)
    print(f"ok: {args.config if args.config is not None else '(no file: defaults)'}")
    return 0


def print_schema(args: argparse.Namespace) -> int:
    """Print the JSON Schema, indented."""
    del args
    print(json.dumps(settings_json_schema(), indent=2, sort_keys=True))
    return 0
