"""What a signature format yields for verification, whatever the envelope was."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from cryptography import x509


class SignatureError(ValueError):
    """A signature that cannot be used: malformed, for another digest, or not verifying."""


class Padding(Enum):
    """How an RSA signature is padded (ECDSA and Ed25519 ignore it)."""

    PKCS1V15 = "pkcs1v15"  # cosign's RSA keys
    PSS = "pss"  # Notation's PS256/PS384/PS512


@dataclass(frozen=True, slots=True)
class SignedData:
    """Bytes a signer signed, with the signature over them and what vouches for the key.

    ``hash_name`` is the hash the signature was made with (``sha256`` ...); ``prehashed``
    says ``data`` is already that hash's digest (a Sigstore message signature). ``raw_ecdsa``:
    the ECDSA signature is r||s (JOSE) instead of DER. ``certificate`` and ``chain`` (leaf
    first, no root) are present when the signer shipped an X.509 identity."""

    format: str  # cosign | sigstore-bundle | notation-jws
    data: bytes
    signature: bytes
    hash_name: str = "sha256"
    prehashed: bool = False
    raw_ecdsa: bool = False
    padding: Padding = Padding.PKCS1V15
    certificate: x509.Certificate | None = None
    chain: tuple[x509.Certificate, ...] = ()
