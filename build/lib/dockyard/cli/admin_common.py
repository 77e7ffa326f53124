"""Shared by the administration commands: settings, the identity services, the operator.

Every admin command has one shape, kept here once: load the settings, start a registry, run
one coroutine with the identity services as the operator (a system administrator), and turn
a refusal into one line on stderr and exit status 1 (:func:`identity_action`).
"""

from __future__ import annotations

import argparse
import datetime
import getpass
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeAlias, TypeVar

from dockyard.auth.principal import Principal
from dockyard.cli.common import fail, load, operator, with_registry
from dockyard.config import ConfigError
from dockyard.core.errors import RegistryError
from dockyard.services.identity.common import Page
from dockyard.services.identity.wiring import IdentityServices
from dockyard.services.registry import Registry

T = TypeVar("T")
Actions: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
Handler = Callable[[argparse.Namespace], int]
IdentityWork = Callable[[IdentityServices, Principal, argparse.Namespace], Awaitable[None]]
PAGE = 500


class UsageError(Exception):
    """A bad argument found while running (a malformed duration, say): one line, exit 1."""


def add_config_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="registry:2 style config.yml")
    parser.add_argument("--data-dir", metavar="DIR", help="storage root, as for serve")


def run_with_registry(args: argparse.Namespace, work: Callable[[Registry], Awaitable[T]]) -> int:
    """Load the settings, run ``work`` on a started registry; errors: a message and exit 1."""
    settings = load(args)
    if settings is None:
        return 1
    try:
        with_registry(settings, work)
    except RegistryError as exc:
        return fail(f"error: {exc.message}")
    except ConfigError as exc:
        return fail(f"error: {exc.message}")
    except UsageError as exc:
        return fail(f"error: {exc}")
    return 0


def identity_action(work: IdentityWork) -> Handler:
    """An argparse handler running ``work(identity services, operator, args)``."""

    def handler(args: argparse.Namespace) -> int:
        async def with_identity(registry: Registry) -> None:
            assert registry.identity is not None  # always built (bootstrap_identity)
            await work(registry.identity, operator(), args)

        return run_with_registry(args, with_identity)

    return handler


def command(subparsers: Actions, name: str, help_text: str) -> Actions:
    """Add the command ``name`` (``dockyard user``, ...); its actions are added to the result."""
    parser = subparsers.add_parser(name, help=help_text)
    return parser.add_subparsers(dest="action", metavar="ACTION", required=True)


def action(
    actions: Actions, name: str, help_text: str, work: IdentityWork
) -> argparse.ArgumentParser:
    """Add the sub-command ``name`` running ``work``, with ``--config`` and ``--data-dir``."""
    parser = actions.add_parser(name, help=help_text)
    add_config_options(parser)
    parser.set_defaults(handler=identity_action(work))
    return parser


async def every(fetch: Callable[[str], Awaitable[Page[T]]]) -> AsyncIterator[T]:
    """Every item of a paged list; ``fetch(cursor)`` returns one page."""
    cursor: str | None = ""
    while cursor is not None:
        page = await fetch(cursor)
        for item in page.items:
            yield item
        cursor = page.next


def read_password(args: argparse.Namespace, prompt: str = "Password") -> str:
    """``--password-stdin`` (one line), else asked twice on the terminal.

    Without a terminal (a script, a pipe) and without ``--password-stdin``: UsageError.
    """
    if getattr(args, "password_stdin", False):
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise UsageError("no terminal to ask for the password on: pass --password-stdin")
    try:
        first = getpass.getpass(f"{prompt}: ")
        again = getpass.getpass(f"{prompt} (again): ")
    except (EOFError, KeyboardInterrupt):
        raise UsageError("no password given") from None
    if again != first:
        raise UsageError("the passwords differ")
    return first


def when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).strftime("%Y-%m-%d %H:%M")
