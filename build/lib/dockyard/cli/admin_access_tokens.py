"""``dockyard access-token create|list|revoke``: users' personal access tokens.

A token is a password for scripts and clients (``dyp_...``), shown once, expiring (default 90
days, at most 366), optionally narrowed to some permissions. ``dockyard token`` is another
thing: the token service's signing keys.
"""

from __future__ import annotations

import argparse

from dockyard.auth.principal import Principal
from dockyard.cli.admin_common import Actions, UsageError, action, command, when
from dockyard.config import ConfigError
from dockyard.config.lifecycle import parse_age
from dockyard.services.identity.wiring import IdentityServices


def register(subparsers: Actions) -> None:
    actions = command(subparsers, "access-token", "manage users' personal access tokens")
    create = action(actions, "create", "make a token for a user and print it once", _create)
    create.add_argument("user")
    create.add_argument("name", help="what the token is for, e.g. laptop or ci")
    create.add_argument("--expires", metavar="AGE", help="e.g. 30d, 720h (default 90d)")
    create.add_argument(
        "--permission",
        action="append",
        dest="permissions",
        metavar="PERMISSION",
        help="narrow it, e.g. repository:pull (repeat; default: whatever the user may do)",
    )
    listing = action(actions, "list", "list a user's tokens (never their secrets)", _list)
    listing.add_argument("user")
    revoke = action(actions, "revoke", "revoke a token at once (by its id)", _revoke)
    revoke.add_argument("id")


def _lifetime(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return parse_age(text)
    except (ConfigError, ValueError):
        raise UsageError(f"--expires {text!r}: expected an age such as 30d or 720h") from None


async def _create(identity: IdentityServices, me: Principal, args: argparse.Namespace) -> None:
    record, secret = await identity.tokens.create(
        me,
        args.name,
        user=args.user,
        expires_in=_lifetime(args.expires),
        permissions=args.permissions,
    )
    print(f"id:      {record.id}")
    print(f"user:    {record.user}")
    print(f"token:   {secret}")
    print(f"expires: {when(record.expires_at)}")
    print("the token is shown only now; store it safely")


async def _list(identity: IdentityServices, me: Principal, args: argparse.Namespace) -> None:
    print(f"{'ID':<24} {'NAME':<24} {'EXPIRES':<17} PERMISSIONS")
    for t in await identity.tokens.list_tokens(me, args.user):
        allowed = " ".join(t.permissions) or "(the user's)"
        print(f"{t.id:<24} {t.name:<24} {when(t.expires_at):<17} {allowed}")


async def _revoke(identity: IdentityServices, me: Principal, args: argparse.Namespace) -> None:
    await identity.tokens.revoke(me, args.id)
    print(f"revoked token {args.id}")
