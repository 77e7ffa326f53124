"""Standard Webhooks signatures (symmetric, ``v1``): what a receiver verifies a delivery with.

Every request carries ``webhook-id`` (the event's id: the same on every retry, the receiver's
idempotency key), ``webhook-timestamp`` (this attempt's time, whole seconds) and
``webhook-signature``: ``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`` under each
secret in force, space separated. A secret is ``whsec_`` + base64 of 32 random bytes; the HMAC
key is the decoded bytes. During a rotation the previous secret signs too, until its overlap
ends, so receivers can switch without losing a delivery.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Sequence

SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
SECRET_BYTES = 32
VERSION = "v1"


def new_secret() -> str:
    """A fresh signing secret (shown to its owner once)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_`` secret; ValueError when it is not one."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("a signing secret starts with whsec_")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except binascii.Error:
        raise ValueError("a signing secret is whsec_ + base64") from None
    if not key:
        raise ValueError("empty signing secret")
    return key


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<base64>`` signature of ``{id}.{timestamp}.{body}``."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return f"{VERSION},{base64.b64encode(digest).decode()}"


def signature_headers(
    secrets_in_force: Sequence[str], message_id: str, now: float, body: bytes
) -> tuple[tuple[str, str], ...]:
    """The three Standard Webhooks headers for one attempt made at ``now``."""
    timestamp = int(now)
    signed = " ".join(signature(s, message_id, timestamp, body) for s in secrets_in_force)
    return (
        ("webhook-id", message_id),
        ("webhook-timestamp", str(timestamp)),
        ("webhook-signature", signed),
    )
