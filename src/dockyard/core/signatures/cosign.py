"""cosign's signature formats, read into ``SignedData`` for a given image digest.

- **Tag scheme** (cosign v1/v2, and ``skopeo --sign-by-sigstore-private-key``): the manifest
  tagged ``sha256-<hex>.sig`` has one layer per signature, media type
  ``application/vnd.dev.cosign.simplesigning.v1+json``, whose blob is the "simple signing"
  payload (``critical.image.docker-manifest-digest`` names the image) and whose annotations
  carry the base64 signature over the payload bytes (``dev.cosignproject.cosign/signature``)
  and optionally the signer's certificate and chain (PEM,
  ``dev.sigstore.cosign/certificate`` / ``dev.sigstore.cosign/chain``).
- **Sigstore bundle** (cosign v3, ``application/vnd.dev.sigstore.bundle.v0.3+json``, an OCI
  1.1 referrer of the image): either a DSSE envelope of an in-toto statement whose subject is
  the image (predicate ``https://sigstore.dev/cosign/sign/v1``) or a message signature over
  the image digest; the certificate (``verificationMaterial.certificate`` or the older
  ``x509CertificateChain``) when the signer has one. Transparency-log entries are not checked
  (dockyard verifies offline).
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

import msgspec
from cryptography import x509

from dockyard.core.signatures.model import SignatureError, SignedData
from dockyard.core.signatures.trust import load_certificates

SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
CERTIFICATE_ANNOTATION = "dev.sigstore.cosign/certificate"
CHAIN_ANNOTATION = "dev.sigstore.cosign/chain"
BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
BUNDLE_MEDIA_PREFIX = "application/vnd.dev.sigstore.bundle"
SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1"
SIGNATURE_TYPE = "cosign container image signature"
MAX_DOCUMENT = 1024 * 1024


_ATTACHMENT_TAG = re.compile(r"(sha256-[0-9a-f]{64}|sha512-[0-9a-f]{128})(\.(sig|att|sbom))?")


def is_attachment_tag(tag: str) -> bool:
    """A tag that only carries things about an image: cosign's ``sha256-<hex>.sig``,
    ``.att`` and ``.sbom`` tags, and the OCI referrers tag schema's ``sha256-<hex>``."""
    return _ATTACHMENT_TAG.fullmatch(tag) is not None


def signature_tag(digest: str) -> str:
    """The tag cosign stores an image's signatures under: ``sha256-<hex>.sig``."""
    algorithm, _, hex_part = digest.partition(":")
    return f"{algorithm}-{hex_part}.sig"


def read_json(document: bytes, what: str) -> dict[str, Any]:
    if len(document) > MAX_DOCUMENT:
        raise SignatureError(f"{what} is larger than {MAX_DOCUMENT} bytes")
    try:
        value = msgspec.json.decode(document)
    except msgspec.DecodeError as exc:
        raise SignatureError(f"{what} is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise SignatureError(f"{what} is not a JSON object")
    return value


def _get(value: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _b64(text: Any, what: str) -> bytes:
    if not isinstance(text, str) or not text:
        raise SignatureError(f"{what} is missing")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError(f"{what} is not base64") from None


def simple_signing(payload: bytes, annotations: dict[str, str], expected_digest: str) -> SignedData:
    """One tag-scheme signature layer: its payload blob and its annotations."""
    document = read_json(payload, "simple signing payload")
    if _get(document, "critical", "type") != SIGNATURE_TYPE:
        raise SignatureError("payload is not a cosign container image signature")
    signed_digest = _get(document, "critical", "image", "docker-manifest-digest")
    if signed_digest != expected_digest:
        raise SignatureError(f"payload signs {str(signed_digest)[:80]}, not {expected_digest}")
    signature = _b64(annotations.get(SIGNATURE_ANNOTATION), "signature annotation")
    leaf, chain = _annotated_certificates(annotations)
    return SignedData("cosign", payload, signature, certificate=leaf, chain=chain)


def _annotated_certificates(
    annotations: dict[str, str],
) -> tuple[x509.Certificate | None, tuple[x509.Certificate, ...]]:
    pem = annotations.get(CERTIFICATE_ANNOTATION)
    if not pem:
        return None, ()
    leaf = load_certificates(pem)[0]
    chain_pem = annotations.get(CHAIN_ANNOTATION)
    return leaf, load_certificates(chain_pem) if chain_pem else ()


def bundle(document: bytes, expected_digest: str) -> SignedData:
    """A Sigstore bundle attached to the image with digest ``expected_digest``."""
    parsed = read_json(document, "Sigstore bundle")
    media_type = parsed.get("mediaType")
    if not isinstance(media_type, str) or not media_type.startswith(BUNDLE_MEDIA_PREFIX):
        raise SignatureError("not a Sigstore bundle (mediaType)")
    leaf, chain = _bundle_certificates(parsed.get("verificationMaterial"))
    if "dsseEnvelope" in parsed:
        data, signature = _dsse(parsed["dsseEnvelope"], expected_digest)
        return SignedData("sigstore-bundle", data, signature, certificate=leaf, chain=chain)
    if "messageSignature" in parsed:
        data, signature = _message_signature(parsed["messageSignature"], expected_digest)
        return SignedData(
            "sigstore-bundle", data, signature, prehashed=True, certificate=leaf, chain=chain
        )
    raise SignatureError("bundle holds neither a DSSE envelope nor a message signature")


def _bundle_certificates(
    material: Any,
) -> tuple[x509.Certificate | None, tuple[x509.Certificate, ...]]:
    if not isinstance(material, dict):
        raise SignatureError("bundle has no verificationMaterial")
    raw = _get(material, "certificate", "rawBytes")
    if raw is not None:
        return _der(raw), ()
    chain = _get(material, "x509CertificateChain", "certificates")
    if isinstance(chain, list) and chain:
        certificates = tuple(_der(_get(c, "rawBytes")) for c in chain)
        return certificates[0], certificates[1:]
    return None, ()


def _der(raw: Any) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(_b64(raw, "certificate"))
    except ValueError as exc:
        raise SignatureError(f"bundle certificate is not DER: {exc}") from None


def _message_signature(signature: Any, expected_digest: str) -> tuple[bytes, bytes]:
    algorithm = _get(signature, "messageDigest", "algorithm")
    if algorithm != "SHA2_256" or not expected_digest.startswith("sha256:"):
        raise SignatureError(f"message digest algorithm {str(algorithm)[:40]} is not supported")
    digest = _b64(_get(signature, "messageDigest", "digest"), "message digest")
    if digest.hex() != expected_digest.removeprefix("sha256:"):
        raise SignatureError(f"bundle signs sha256:{digest.hex()}, not {expected_digest}")
    return digest, _b64(_get(signature, "signature"), "message signature")


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what a DSSE signature is computed over."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def _dsse(envelope: Any, expected_digest: str) -> tuple[bytes, bytes]:
    payload_type = _get(envelope, "payloadType")
    if payload_type != "application/vnd.in-toto+json":
        raise SignatureError("DSSE payload is not an in-toto statement")
    payload = _b64(_get(envelope, "payload"), "DSSE payload")
    signatures = _get(envelope, "signatures")
    if not isinstance(signatures, list) or len(signatures) != 1:
        raise SignatureError("a bundle's DSSE envelope must hold exactly one signature")
    _require_subject(read_json(payload, "in-toto statement"), expected_digest)
    return pae(payload_type, payload), _b64(_get(signatures[0], "sig"), "DSSE signature")


def _require_subject(statement: dict[str, Any], expected_digest: str) -> None:
    if not str(statement.get("_type", "")).startswith("https://in-toto.io/Statement/"):
        raise SignatureError("DSSE payload is not an in-toto statement")
    if statement.get("predicateType") != SIGN_PREDICATE:
        raise SignatureError("statement is an attestation, not a cosign signature")
    algorithm, _, hex_part = expected_digest.partition(":")
    subjects = statement.get("subject")
    if not isinstance(subjects, list) or not any(
        _get(s, "digest", algorithm) == hex_part for s in subjects
    ):
        raise SignatureError(f"statement's subject is not {expected_digest}")
