"""Content digests: parsing, validation and verification while streaming.

A digest is ``algorithm ":" encoded``. dockyard accepts ``sha256`` and ``sha512`` (lower-case
hex of the exact length); anything else is refused before it touches a path or a key.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from dockyard.core.errors import ErrorCode, RegistryError

HEX_LENGTH = {"sha256": 64, "sha512": 128}
_GRAMMAR = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")
_HEX = re.compile(r"^[a-f0-9]+$")
# exactly what parse_digest accepts, in one match (is_valid_digest is on the manifest GET path)
_ACCEPTED = re.compile(r"sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128}")


@dataclass(frozen=True, slots=True)
class Digest:
    """A validated digest."""

    algorithm: str
    hex: str

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    @property
    def text(self) -> str:
        return f"{self.algorithm}:{self.hex}"


def parse_digest(text: str) -> Digest:
    """Parse and validate a digest string; raise DIGEST_INVALID when it is not one we accept."""
    if not _GRAMMAR.fullmatch(text):
        raise RegistryError(
            ErrorCode.DIGEST_INVALID, "invalid digest format", detail={"digest": text[:200]}
        )
    algorithm, _, encoded = text.partition(":")
    expected = HEX_LENGTH.get(algorithm)
    if expected is None:
        raise RegistryError(
            ErrorCode.DIGEST_INVALID,
            f"unsupported digest algorithm {algorithm!r}",
            detail={"digest": text[:200], "supported": sorted(HEX_LENGTH)},
        )
    if len(encoded) != expected or not _HEX.fullmatch(encoded):
        raise RegistryError(
            ErrorCode.DIGEST_INVALID,
            f"{algorithm} digest must be {expected} lower-case hex characters",
            detail={"digest": text[:200]},
        )
    return Digest(algorithm, encoded)


def is_valid_digest(text: str) -> bool:
    """Whether :func:`parse_digest` would accept ``text`` (without building a Digest)."""
    return _ACCEPTED.fullmatch(text) is not None


def new_hasher(algorithm: str) -> Any:
    """A fresh hashlib object for a supported algorithm."""
    return hashlib.new(algorithm)


def digest_of(data: bytes, algorithm: str = "sha256") -> Digest:
    """Digest of an in-memory byte string (manifests, small bodies)."""
    return Digest(algorithm, hashlib.new(algorithm, data).hexdigest())
