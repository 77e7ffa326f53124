"""``dockyard token rotate|list|retire``: the token service's signing keys, on disk.

The keys live in ``dockyard.token.keydir`` (default ``<storage root>/dockyard/token-keys``), or
the directory given with ``--keydir``. Running servers notice added or removed key files within
about two seconds: after ``rotate`` the new key signs, and tokens signed by older keys keep
verifying until those keys are retired.
"""

from __future__ import annotations

import argparse
import sys

from dockyard.auth.token_keys import KeyRing
from dockyard.cli.common import add_config_arguments, fail, load
from dockyard.cli.datadir import mark_creating
from dockyard.config import ConfigError

ALGORITHMS = ("ES256", "RS256")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("token", help="token service signing keys")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    rotate = mark_creating(
        actions.add_parser("rotate", help="add a new signing key; prints its key id")
    )
    rotate.add_argument("--algorithm", choices=ALGORITHMS, help="default: dockyard.token.algorithm")
    listing = actions.add_parser("list", help="the keys, oldest first, and which one signs")
    retire = actions.add_parser("retire", help="remove a key: tokens it signed stop verifying")
    retire.add_argument("kid", help="the key id (as `token list` shows it)")
    for action, handler in ((rotate, run_rotate), (listing, run_list), (retire, run_retire)):
        add_config_arguments(action)
        action.add_argument("--keydir", metavar="DIR", help="default: dockyard.token.keydir")
        action.set_defaults(handler=handler)


def _ring(args: argparse.Namespace) -> KeyRing | None:
    """The key ring the arguments name, or None after printing why there is none."""
    settings = load(args, data_dir_needed=not args.keydir)
    if settings is None:
        return None
    algorithm = getattr(args, "algorithm", None) or settings.dockyard.token.algorithm
    try:
        directory = args.keydir or settings.token_key_dir()
    except ConfigError as exc:
        fail(f"{exc}; name the key directory with --keydir or dockyard.token.keydir")
        return None
    if directory is None:
        fail("the inmemory driver keeps token keys in memory; name a directory with --keydir")
        return None
    try:
        return KeyRing(directory, algorithm)
    except ValueError as exc:
        fail(str(exc))
        return None


def run_rotate(args: argparse.Namespace) -> int:
    ring = _ring(args)
    if ring is None:
        return 1
    try:
        key = ring.rotate()
    except OSError as exc:
        return fail(f"cannot write a key in {ring.directory}: {exc.strerror or exc}")
    print(key.kid)
    print(f"new {key.algorithm} key {key.name} signs from now on", file=sys.stderr)
    return 0


def run_list(args: argparse.Namespace) -> int:
    ring = _ring(args)
    if ring is None:
        return 1
    keys = ring.keys()
    if not keys:
        return fail(f"no signing keys in {ring.directory}")
    for key in keys:
        signing = "  signing" if key is keys[-1] else ""
        print(f"{key.kid}  {key.algorithm}  {key.name}{signing}")
    return 0


def run_retire(args: argparse.Namespace) -> int:
    ring = _ring(args)
    if ring is None:
        return 1
    if ring.public_key(args.kid) is None:
        return fail(f"no key with id {args.kid!r} in {ring.directory}")
    if not ring.retire(args.kid):
        return fail("the last signing key cannot be retired; rotate first")
    print(f"retired {args.kid}", file=sys.stderr)
    return 0
