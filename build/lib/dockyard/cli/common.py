"""What the administration commands share: where the configuration comes from, and running
one coroutine against a started registry."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from dockyard.auth.grants import SYSTEM
from dockyard.auth.principal import Principal
from dockyard.bootstrap import build_registry
from dockyard.cli import datadir
from dockyard.cli.serve import settings_for
from dockyard.config import ConfigError, Settings
from dockyard.services.registry import Registry

T = TypeVar("T")


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="registry:2 style config.yml")
    parser.add_argument("--data-dir", metavar="DIR", help="storage root")


def load(args: argparse.Namespace, *, data_dir_needed: bool = True) -> Settings | None:
    """The settings for ``--config`` / ``--data-dir``, or None after printing why not.

    A missing data directory is refused, or created by a command marked as creating
    (:mod:`dockyard.cli.datadir`), unless ``data_dir_needed`` is False.
    """
    try:
        settings = settings_for(args.config, data_dir=args.data_dir)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return None
    refusal = datadir.prepare(settings, create=datadir.creates(args)) if data_dir_needed else None
    if refusal is not None:
        print(refusal, file=sys.stderr)
        return None
    return settings


def operator() -> Principal:
    """Whoever runs the CLI with access to the database: a system administrator."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return Principal(f"cli:{user}", identity=SYSTEM, client="local")


async def audit(
    registry: Registry, event: str, target: str, detail: dict[str, Any] | None = None
) -> None:
    """Record a change made from the CLI in the audit log, as the API records its own, with
    the operator (``cli:<os user>``) as the actor."""
    assert registry.identity is not None  # always built (bootstrap_identity)
    await registry.identity.audit.record(operator(), event, target, detail=detail)


def with_registry(settings: Settings, work: Callable[[Registry], Awaitable[T]]) -> T:
    """Build the registry, start it, run ``work`` and shut it down again."""
    registry = build_registry(settings)

    async def main() -> T:
        await registry.startup()
        try:
            return await work(registry)
        finally:
            await registry.shutdown()

    return asyncio.run(main())


def fail(message: str) -> int:
    print(message, file=sys.stderr)
    return 1
