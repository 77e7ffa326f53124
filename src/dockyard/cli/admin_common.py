"""Shared by the administration commands: settings, the identity services, the operator."""

from __future__ import annotations

import argparse
import asyncio
import datetime
import getpass
import os
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

from dockyard.auth.grants import SYSTEM
from dockyard.auth.principal import Principal
from dockyard.bootstrap import build_registry
from dockyard.cli.serve import settings_for
from dockyard.config import ConfigError
from dockyard.core.errors import RegistryError
from dockyard.services.identity.wiring import IdentityServices

T = TypeVar("T")


def add_config_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="registry:2 style config.yml")
    parser.add_argument("--data-dir", metavar="DIR", help="storage root, as for serve")


def operator() -> Principal:
    """Whoever runs the CLI with access to the database: a system administrator."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return Principal(f"cli:{user}", identity=SYSTEM, client="local")


def run_identity(
    args: argparse.Namespace, work: Callable[[IdentityServices, Principal], Awaitable[T]]
) -> int:
    """Run ``work`` against the configured database; errors become a message and exit 1."""
    try:
        registry = build_registry(settings_for(args.config, args.data_dir))
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    assert registry.identity is not None

    async def main() -> T:
        await registry.startup()
        try:
            assert registry.identity is not None
            return await work(registry.identity, operator())
        finally:
            await registry.shutdown()

    try:
        asyncio.run(main())
    except RegistryError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    return 0


def read_password(args: argparse.Namespace, prompt: str = "Password") -> str:
    """``--password-stdin`` (one line), else asked twice on the terminal."""
    if getattr(args, "password_stdin", False):
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass(f"{prompt}: ")
    if getpass.getpass(f"{prompt} (again): ") != first:
        raise SystemExit("error: the passwords differ")
    return first


def when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).strftime("%Y-%m-%d %H:%M")
