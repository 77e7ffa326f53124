"""Notary Project signatures (``notation sign``) in the JWS envelope, for a given image digest.

The signature is an OCI 1.1 referrer of the image: a manifest with ``artifactType``
``application/vnd.cncf.notary.signature`` whose one layer (``application/jose+json``) is a
JWS in the flattened JSON serialization. Its protected header names the algorithm (PS256/
PS384/PS512 with RSA, ES256/ES384/ES512 with ECDSA), the content type of the payload
(``application/vnd.cncf.notary.payload.v1+json``), the signing scheme (``notary.x509``;
``notary.x509.signingAuthority`` needs a timestamp authority and is refused), the signing
time, an optional expiry, and lists every extended header it relies on in ``crit``. The
unprotected header carries the certificate chain (``x5c``, DER in base64, leaf first). The
payload's ``targetArtifact`` descriptor must name the image.

The COSE envelope (``application/cose``) is read by ``notation_cose.py``.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Any

from cryptography import x509

from dockyard.core.signatures import notation_cose
from dockyard.core.signatures.cosign import read_json
from dockyard.core.signatures.model import Padding, SignatureError, SignedData

ARTIFACT_TYPE = "application/vnd.cncf.notary.signature"
JWS_MEDIA_TYPE = "application/jose+json"
COSE_MEDIA_TYPE = "application/cose"
PAYLOAD_TYPE = "application/vnd.cncf.notary.payload.v1+json"
SIGNING_SCHEME = "io.cncf.notary.signingScheme"
SIGNING_TIME = "io.cncf.notary.signingTime"
EXPIRY = "io.cncf.notary.expiry"
KNOWN_CRITICAL = frozenset({SIGNING_SCHEME, EXPIRY, "io.cncf.notary.verificationPlugin"})
_ALGORITHMS = {
    "PS256": ("sha256", Padding.PSS),
    "PS384": ("sha384", Padding.PSS),
    "PS512": ("sha512", Padding.PSS),
    "ES256": ("sha256", None),
    "ES384": ("sha384", None),
    "ES512": ("sha512", None),
}


def _b64url(text: Any, what: str) -> bytes:
    if not isinstance(text, str) or not text:
        raise SignatureError(f"{what} is missing")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise SignatureError(f"{what} is not base64url") from None


def envelope(media_type: str, document: bytes, expected_digest: str, now: datetime) -> SignedData:
    """The signature in a Notation envelope blob of ``media_type``."""
    if media_type == COSE_MEDIA_TYPE:
        return notation_cose.cose(document, expected_digest, now)
    if media_type != JWS_MEDIA_TYPE:
        raise SignatureError(f"not a Notation envelope: {media_type[:80]}")
    return jws(document, expected_digest, now)


def jws(document: bytes, expected_digest: str, now: datetime) -> SignedData:
    parsed = read_json(document, "JWS envelope")
    protected_text, payload_text = parsed.get("protected"), parsed.get("payload")
    header = read_json(_b64url(protected_text, "protected header"), "protected header")
    hash_name, pss = _check_header(header, now)
    payload = read_json(_b64url(payload_text, "payload"), "payload")
    target = payload.get("targetArtifact")
    if not isinstance(target, dict) or target.get("digest") != expected_digest:
        raise SignatureError(f"Notation payload does not target {expected_digest}")
    leaf, *chain = _chain(parsed.get("header"))
    return SignedData(
        "notation-jws",
        f"{protected_text}.{payload_text}".encode(),
        _b64url(parsed.get("signature"), "signature"),
        hash_name=hash_name,
        raw_ecdsa=pss is None,
        padding=pss or Padding.PKCS1V15,
        certificate=leaf,
        chain=tuple(chain),
    )


def _check_header(header: dict[str, Any], now: datetime) -> tuple[str, Padding | None]:
    algorithm = _ALGORITHMS.get(str(header.get("alg")))
    if algorithm is None:
        raise SignatureError(f"JWS algorithm {str(header.get('alg'))[:20]} is not allowed")
    if header.get("cty") != PAYLOAD_TYPE:
        raise SignatureError("JWS payload is not a Notation payload (cty)")
    critical = header.get("crit")
    if not isinstance(critical, list) or SIGNING_SCHEME not in critical:
        raise SignatureError("JWS crit must list io.cncf.notary.signingScheme")
    unknown = set(map(str, critical)) - KNOWN_CRITICAL
    if unknown or any(name not in header for name in critical):
        raise SignatureError(f"JWS critical headers not understood: {sorted(unknown)[:5]}")
    if header.get(SIGNING_SCHEME) != "notary.x509":
        raise SignatureError("only the notary.x509 signing scheme is supported")
    _time(header.get(SIGNING_TIME), "signing time")
    if EXPIRY in header and _time(header[EXPIRY], "expiry") < now:
        raise SignatureError("Notation signature has expired")
    return algorithm


def _time(text: Any, what: str) -> datetime:
    if not isinstance(text, str):
        raise SignatureError(f"JWS {what} is missing")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise SignatureError(f"JWS {what} is not RFC 3339") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _chain(header: Any) -> list[x509.Certificate]:
    encoded = header.get("x5c") if isinstance(header, dict) else None
    if not isinstance(encoded, list) or not encoded:
        raise SignatureError("JWS header has no x5c certificate chain")
    try:
        return [x509.load_der_x509_certificate(base64.b64decode(c, validate=True)) for c in encoded]
    except (binascii.Error, ValueError, TypeError):
        raise SignatureError("x5c holds something that is not a DER certificate") from None
