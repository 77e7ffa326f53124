"""Public keys for tokens: key ids, JWKs, and which signature algorithms fit which key.

Two key-id conventions matter for Docker token auth:

- the *libtrust fingerprint* (registry:2 2.x, docker_auth, GitLab, Harbor): SHA-256 of the
  DER SubjectPublicKeyInfo, first 240 bits, base32, in twelve ``:``-separated groups of four;
- the *RFC 7638 JWK thumbprint* (SHA-256 of the canonical JWK, base64url), which newer issuers
  and distribution 3 use.

Only asymmetric keys exist here: an HMAC "key" would be a shared secret, and accepting ``HS*``
is how a public key gets abused as one. Imports only third-party crypto.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from jwt import PyJWK
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm
from jwt.exceptions import PyJWKError, PyJWTError

PublicKey = (
    ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey
)
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
EC_ALGORITHMS = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}
ASYMMETRIC_ALGORITHMS = RSA_ALGORITHMS | frozenset(EC_ALGORITHMS.values()) | {"EdDSA"}
MIN_RSA_BITS = 2048
_THUMBPRINT_MEMBERS = {
    "EC": ("crv", "kty", "x", "y"),
    "RSA": ("e", "kty", "n"),
    "OKP": ("crv", "kty", "x"),
}


def algorithms_for(key: PublicKey) -> frozenset[str]:
    """The JWS algorithms a token signed by ``key`` may name (never ``none`` or ``HS*``)."""
    if isinstance(key, rsa.RSAPublicKey):
        return RSA_ALGORITHMS if key.key_size >= MIN_RSA_BITS else frozenset()
    if isinstance(key, ec.EllipticCurvePublicKey):
        alg = EC_ALGORITHMS.get(key.curve.name)
        return frozenset({alg}) if alg else frozenset()
    return frozenset({"EdDSA"})


def signing_algorithm(key: PrivateKey) -> str:
    """The algorithm dockyard signs with for one of its own keys."""
    if isinstance(key, rsa.RSAPrivateKey):
        return "RS256"
    return EC_ALGORITHMS[key.curve.name]


def libtrust_key_id(key: PublicKey) -> str:
    """The libtrust fingerprint registry:2 uses as ``kid`` (``ABCD:EFGH:...``, 12 groups)."""
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    encoded = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(encoded[i : i + 4] for i in range(0, len(encoded), 4))


def public_jwk(key: PublicKey) -> dict[str, Any]:
    """The public JWK members of ``key`` (no ``kid``, ``alg`` or ``use``)."""
    if isinstance(key, rsa.RSAPublicKey):
        return dict(RSAAlgorithm.to_jwk(key, as_dict=True))
    if isinstance(key, ec.EllipticCurvePublicKey):
        return dict(ECAlgorithm.to_jwk(key, as_dict=True))
    return dict(OKPAlgorithm.to_jwk(key, as_dict=True))


def jwk_thumbprint(key: PublicKey) -> str:
    """RFC 7638 thumbprint (SHA-256, base64url without padding)."""
    jwk = public_jwk(key)
    members = {name: jwk[name] for name in _THUMBPRINT_MEMBERS[jwk["kty"]]}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    digest = hashlib.sha256(canonical).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def key_from_jwk(data: object) -> PublicKey | None:
    """The public key of one JWKS entry; None for symmetric (``oct``) or unusable entries."""
    if not isinstance(data, dict) or data.get("kty") not in _THUMBPRINT_MEMBERS:
        return None
    try:
        key = PyJWK(data).key
    except (PyJWKError, PyJWTError, ValueError, TypeError):
        return None
    if isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        key = key.public_key()
    if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        key = key.public_key()
    if isinstance(key, PublicKey):
        return key
    return None


def as_public_key(key: object) -> PublicKey | None:
    """``key`` if it is a public key type tokens may be signed with, else None."""
    return key if isinstance(key, PublicKey) else None
