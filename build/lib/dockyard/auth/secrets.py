"""Password hashes (bcrypt) and generated secrets (robot secrets, personal access tokens).

Passwords people choose are hashed with bcrypt on a worker thread; checking a password for a
user who does not exist still runs bcrypt against a dummy hash, so timing does not tell
whether the user exists. Generated secrets carry 256 random bits, so a SHA-256 of them is as
good as a slow hash and costs nothing per request; they are compared in constant time.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets

import bcrypt

PASSWORD_MIN = 8
PASSWORD_MAX = 72  # bcrypt's limit, in bytes
TOKEN_PREFIX = "dyp_"  # personal access tokens: dyp_<id>_<secret>  # noqa: S105
ROBOT_PREFIX = "robot$"


def check_password_rules(password: str) -> None:
    """ValueError when ``password`` cannot be a local user's password."""
    size = len(password.encode())
    if size < PASSWORD_MIN:
        raise ValueError(f"password must be at least {PASSWORD_MIN} characters")
    if size > PASSWORD_MAX:
        raise ValueError(f"password must be at most {PASSWORD_MAX} bytes")


def hash_password(password: str, cost: int = 12) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=cost)).decode()


def _check(password: str, hashed: str) -> bool:
    encoded = password.encode()
    try:  # bcrypt 5 refuses more than 72 bytes: check the first 72 to spend the same time
        ok = bool(bcrypt.checkpw(encoded[:PASSWORD_MAX], hashed.encode()))
    except ValueError:
        return False
    return ok and len(encoded) <= PASSWORD_MAX


_DUMMY_BY_COST: dict[int, str] = {}


def dummy_hash(cost: int) -> str:
    """A hash of a random password with ``cost``, made once per cost."""
    if cost not in _DUMMY_BY_COST:
        _DUMMY_BY_COST[cost] = hash_password(secrets.token_urlsafe(16), cost)
    return _DUMMY_BY_COST[cost]


async def verify_password(password: str, hashed: str | None, cost: int) -> bool:
    """Check ``password`` against ``hashed``, or against a dummy hash when there is none."""
    target = hashed if hashed else dummy_hash(cost)
    ok = await asyncio.to_thread(_check, password, target)
    return ok and hashed is not None


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, digest: str) -> bool:
    return hmac.compare_digest(secret_digest(secret), digest)


def new_token_id() -> str:
    return secrets.token_hex(8)


def format_token(token_id: str, secret: str) -> str:
    return f"{TOKEN_PREFIX}{token_id}_{secret}"


def parse_token(text: str) -> tuple[str, str] | None:
    """``(id, secret)`` of a personal access token, None when ``text`` is not one."""
    if not text.startswith(TOKEN_PREFIX):
        return None
    token_id, sep, secret = text[len(TOKEN_PREFIX) :].partition("_")
    if not sep or len(token_id) != 16 or not secret:
        return None
    return token_id, secret


def new_stamp() -> str:
    return secrets.token_hex(8)
