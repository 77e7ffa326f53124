"""Helpers for token tests: certificate authorities, signing keys, good and forged JWTs."""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _json(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


@dataclass
class CertKey:
    cert: x509.Certificate
    key: PrivateKey

    @property
    def der_b64(self) -> str:
        return base64.b64encode(self.cert.public_bytes(serialization.Encoding.DER)).decode()

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def make_cert(
    name: str,
    *,
    issuer: CertKey | None = None,
    ca: bool = False,
    key: PrivateKey | None = None,
    days: float = 2,
    not_before_days: float = -1,
) -> CertKey:
    """A certificate for ``name``: self-signed when ``issuer`` is None, a CA when ``ca``."""
    key = key or ec_key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + datetime.timedelta(days=not_before_days))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if ca:
        usage = x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False,
        )  # fmt: skip
        builder = builder.add_extension(usage, critical=True)
    signer_key = issuer.key if issuer else key
    aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(signer_key.public_key())
    builder = builder.add_extension(aki, critical=False)
    return CertKey(builder.sign(signer_key, hashes.SHA256()), key)


def claims(
    *,
    issuer: str = "dockyard",
    audience: str | list[str] = "dockyard",
    subject: str = "alice",
    access: list[dict[str, Any]] | None = None,
    lifetime: int = 300,
    now: float | None = None,
    **extra: Any,
) -> dict[str, Any]:
    now = int(now if now is not None else time.time())
    return {
        "iss": issuer,
        "sub": subject,
        "aud": audience,
        "exp": now + lifetime,
        "nbf": now,
        "iat": now,
        "jti": b64url(hashlib.sha256(str(time.time_ns()).encode()).digest()[:12]),
        "access": access if access is not None else [],
        **extra,
    }


def repo_access(name: str, *actions: str) -> list[dict[str, Any]]:
    return [{"type": "repository", "name": name, "actions": list(actions)}]


def mint(
    payload: dict[str, Any],
    key: PrivateKey,
    *,
    kid: str | None = None,
    alg: str = "ES256",
    headers: dict[str, Any] | None = None,
) -> str:
    extra = dict(headers or {})
    if kid is not None:
        extra["kid"] = kid
    return jwt.encode(payload, key, algorithm=alg, headers=extra)


def forge_none(payload: dict[str, Any], kid: str = "") -> str:
    """``alg: none``, no signature."""
    header = {"alg": "none", "typ": "JWT", **({"kid": kid} if kid else {})}
    return f"{b64url(_json(header))}.{b64url(_json(payload))}."


def forge_hs256(payload: dict[str, Any], secret: bytes, kid: str = "") -> str:
    """HMAC-SHA256 with ``secret`` (e.g. the issuer's public key PEM): key confusion."""
    header = {"alg": "HS256", "typ": "JWT", **({"kid": kid} if kid else {})}
    signing_input = f"{b64url(_json(header))}.{b64url(_json(payload))}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def load_private_keys(directory: Path) -> list[PrivateKey]:
    """The PEM keys a dockyard keeps in ``directory``, oldest first."""
    keys = []
    for path in sorted(directory.glob("*.pem")):
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey)
        keys.append(key)
    return keys


def public_pem(key: PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(header, claims) without checking anything."""
    header = jwt.get_unverified_header(token)
    payload = jwt.decode(token, options={"verify_signature": False})
    return header, payload
