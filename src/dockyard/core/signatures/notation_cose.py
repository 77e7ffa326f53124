"""Notary Project signatures in the COSE envelope (``application/cose``, RFC 9052 COSE_Sign1).

The envelope is a tagged COSE_Sign1 (CBOR tag 18): protected headers (a CBOR map in a byte
string), unprotected headers, the payload and the signature. Protected: ``alg`` (label 1:
-37/-38/-39 PS256/384/512, -7/-35/-36 ES256/384/512), ``crit`` (2), content type (3,
``application/vnd.cncf.notary.payload.v1+json``), and Notation's string labels for the signing
scheme, signing time and expiry. Unprotected: ``x5chain`` (33, DER certificates, leaf first).
(cbor2 decodes arrays and maps inside a tag as tuples and frozen dicts.) The signature is over
the ``Sig_structure`` ``["Signature1", protected, b"", payload]``; the
checks on the headers and the payload are those of the JWS envelope (``notation.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import cbor2
from cryptography import x509

from dockyard.core.signatures.cosign import read_json
from dockyard.core.signatures.model import Padding, SignatureError, SignedData

ALG, CRIT, CONTENT_TYPE, X5CHAIN = 1, 2, 3, 33
COSE_SIGN1_TAG = 18
MAX_ENVELOPE = 1024 * 1024
_ALGORITHMS = {
    -37: ("sha256", Padding.PSS),
    -38: ("sha384", Padding.PSS),
    -39: ("sha512", Padding.PSS),
    -7: ("sha256", None),
    -35: ("sha384", None),
    -36: ("sha512", None),
}
SIGNING_SCHEME = "io.cncf.notary.signingScheme"
SIGNING_TIME = "io.cncf.notary.signingTime"
EXPIRY = "io.cncf.notary.expiry"
PAYLOAD_TYPE = "application/vnd.cncf.notary.payload.v1+json"
KNOWN_CRITICAL = frozenset({SIGNING_SCHEME, EXPIRY, "io.cncf.notary.verificationPlugin"})


def _decode(data: bytes, what: str) -> Any:
    try:
        return cbor2.loads(data)
    except (cbor2.CBORDecodeError, ValueError, TypeError, OverflowError, RecursionError):
        raise SignatureError(f"{what} is not CBOR") from None


def cose(document: bytes, expected_digest: str, now: datetime) -> SignedData:
    if len(document) > MAX_ENVELOPE:
        raise SignatureError("COSE envelope is too large")
    envelope = _decode(document, "COSE envelope")
    if not isinstance(envelope, cbor2.CBORTag) or envelope.tag != COSE_SIGN1_TAG:
        raise SignatureError("not a tagged COSE_Sign1 message")
    parts = envelope.value
    if not isinstance(parts, (list, tuple)) or len(parts) != 4:
        raise SignatureError("COSE_Sign1 must have four parts")
    protected, unprotected, payload, signature = parts
    if not all(isinstance(p, bytes) for p in (protected, payload, signature)):
        raise SignatureError("COSE_Sign1 parts have the wrong types")
    headers = _decode(protected, "protected headers")
    if not isinstance(headers, Mapping) or not isinstance(unprotected, Mapping):
        raise SignatureError("COSE headers are not maps")
    hash_name, pss = _check_headers(headers, now)
    target = read_json(payload, "payload").get("targetArtifact")
    if not isinstance(target, dict) or target.get("digest") != expected_digest:
        raise SignatureError(f"Notation payload does not target {expected_digest}")
    leaf, *chain = _chain(unprotected.get(X5CHAIN))
    return SignedData(
        "notation-cose",
        cbor2.dumps(["Signature1", protected, b"", payload]),
        signature,
        hash_name=hash_name,
        raw_ecdsa=pss is None,
        padding=pss or Padding.PKCS1V15,
        certificate=leaf,
        chain=tuple(chain),
    )


def _check_headers(headers: Mapping[Any, Any], now: datetime) -> tuple[str, Padding | None]:
    label = headers.get(ALG)
    algorithm = _ALGORITHMS.get(label) if isinstance(label, int) else None
    if algorithm is None:
        raise SignatureError("COSE algorithm is not allowed")
    if headers.get(CONTENT_TYPE) != PAYLOAD_TYPE:
        raise SignatureError("COSE payload is not a Notation payload (content type)")
    critical = headers.get(CRIT)
    if not isinstance(critical, (list, tuple)) or SIGNING_SCHEME not in critical:
        raise SignatureError("COSE crit must list io.cncf.notary.signingScheme")
    unknown = {str(c) for c in critical} - KNOWN_CRITICAL
    if unknown or any(name not in headers for name in critical):
        raise SignatureError(f"COSE critical headers not understood: {sorted(unknown)[:5]}")
    if headers.get(SIGNING_SCHEME) != "notary.x509":
        raise SignatureError("only the notary.x509 signing scheme is supported")
    if not isinstance(headers.get(SIGNING_TIME), datetime):
        raise SignatureError("COSE signing time is missing")
    expiry = headers.get(EXPIRY)
    if expiry is not None:
        if not isinstance(expiry, datetime):
            raise SignatureError("COSE expiry is not a time")
        if (expiry if expiry.tzinfo else expiry.replace(tzinfo=UTC)) < now:
            raise SignatureError("Notation signature has expired")
    return algorithm


def _chain(value: Any) -> list[x509.Certificate]:
    items = [value] if isinstance(value, bytes) else value
    if (
        not isinstance(items, (list, tuple))
        or not items
        or not all(isinstance(i, bytes) for i in items)
    ):
        raise SignatureError("COSE unprotected headers have no x5chain")
    try:
        return [x509.load_der_x509_certificate(item) for item in items]
    except ValueError:
        raise SignatureError("x5chain holds something that is not a DER certificate") from None
