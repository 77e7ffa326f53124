"""The data directory (the filesystem driver's root) a command works on.

Run from the wrong directory, a command would otherwise make a fresh ``./dockyard-data`` and
show empty tables. So commands that only read (lists, audit export, gc, fsck, ...) refuse a
data directory that does not exist, in one line naming it; commands that create things
(serve, migrate, import, ``user add``, ...) create it (0700) and say so in one line on stderr.
"""

from __future__ import annotations

import argparse
import os
import sys

from dockyard.config import Settings

CREATES = "creates_data"  # the argparse default a creating command sets to True


def mark_creating(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Let this command create a missing data directory (it says where)."""
    parser.set_defaults(**{CREATES: True})
    return parser


def creates(args: argparse.Namespace) -> bool:
    return bool(getattr(args, CREATES, False))


def local_root(settings: Settings) -> str | None:
    """The filesystem driver's root, absolute; None for other drivers."""
    if settings.storage.driver_name != "filesystem" or settings.storage.filesystem is None:
        return None
    return os.path.abspath(settings.storage.filesystem.rootdirectory)


def prepare(settings: Settings, *, create: bool) -> str | None:
    """None when the command may go on; else the one line to print before exiting 1.

    A missing root is created (0700, the owner's alone) when ``create``; an existing
    directory is used as it is.
    """
    root = local_root(settings)
    if root is None or os.path.isdir(root):
        return None
    if os.path.lexists(root):
        return f"error: data directory {root} is not a directory"
    if not create:
        return (
            f"error: data directory {root} does not exist "
            "(run from the right directory, or pass --data-dir or --config)"
        )
    try:
        os.makedirs(root, mode=0o700)
    except OSError as exc:
        return f"error: cannot create data directory {root}: {exc.strerror}"
    print(f"dockyard: created data directory {root}", file=sys.stderr)
    return None
