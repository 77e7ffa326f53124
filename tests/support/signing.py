"""Signatures made with ``cryptography`` in the published formats: cosign's tag-scheme simple
signing, Sigstore bundles (v0.3, DSSE and message signature), Notation JWS; keys, a CA and
leaf certificates (valid, expired, from another CA) to sign with."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.x509.oid import NameOID

SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
BUNDLE = "application/vnd.dev.sigstore.bundle.v0.3+json"
NOTATION = "application/vnd.cncf.notary.signature"
NOTATION_PAYLOAD = "application/vnd.cncf.notary.payload.v1+json"

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_pem(key: PrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def cert_pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def sign(key: PrivateKey, data: bytes) -> bytes:
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    return key.sign(data, ec.ECDSA(hashes.SHA256()))


@dataclass
class Authority:
    key: PrivateKey
    certificate: x509.Certificate

    @property
    def pem(self) -> str:
        return cert_pem(self.certificate)


def _name(common_name: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "dockyard tests"),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])  # fmt: skip


def make_ca(name: str = "test root", key: PrivateKey | None = None) -> Authority:
    key = key or ec_key()
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(_name(name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return Authority(key, certificate)


def make_leaf(
    ca: Authority,
    name: str = "signer",
    *,
    key: PrivateKey | None = None,
    email: str | None = None,
    expired: bool = False,
    is_ca: bool = False,
) -> tuple[PrivateKey, x509.Certificate]:
    key = key or ec_key()
    now = datetime.now(UTC)
    start, end = (
        (now - timedelta(days=30), now - timedelta(days=1))
        if expired
        else (now - timedelta(hours=1), now + timedelta(days=30))
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
    )
    if email:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False
        )
    return key, builder.sign(ca.key, hashes.SHA256())


# cosign tag scheme ------------------------------------------------------------------------


def simple_signing_payload(digest: str, reference: str = "registry.test/app") -> bytes:
    return json.dumps({
        "critical": {
            "identity": {"docker-reference": reference},
            "image": {"docker-manifest-digest": digest},
            "type": "cosign container image signature",
        },
        "optional": None,
    }).encode()  # fmt: skip


def cosign_layer_annotations(
    key: PrivateKey, payload: bytes, certificate: x509.Certificate | None = None
) -> dict[str, str]:
    annotations = {
        "dev.cosignproject.cosign/signature": base64.b64encode(sign(key, payload)).decode()
    }
    if certificate is not None:
        annotations["dev.sigstore.cosign/certificate"] = cert_pem(certificate)
    return annotations


# Sigstore bundle v0.3 ----------------------------------------------------------------------


def pae(payload_type: str, payload: bytes) -> bytes:
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def _material(key: PrivateKey, certificate: x509.Certificate | None) -> dict[str, Any]:
    if certificate is None:
        return {"publicKey": {"hint": hashlib.sha256(public_pem(key).encode()).hexdigest()}}
    der = certificate.public_bytes(serialization.Encoding.DER)
    return {"certificate": {"rawBytes": base64.b64encode(der).decode()}}


def dsse_bundle(
    key: PrivateKey,
    digest: str,
    *,
    certificate: x509.Certificate | None = None,
    predicate_type: str = "https://sigstore.dev/cosign/sign/v1",
) -> bytes:
    statement = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "registry.test/app", "digest": {"sha256": digest.split(":")[1]}}],
        "predicateType": predicate_type,
        "predicate": {},
    }
    payload = json.dumps(statement).encode()
    signature = sign(key, pae("application/vnd.in-toto+json", payload))
    return json.dumps({
        "mediaType": BUNDLE,
        "verificationMaterial": _material(key, certificate),
        "dsseEnvelope": {
            "payload": base64.b64encode(payload).decode(),
            "payloadType": "application/vnd.in-toto+json",
            "signatures": [{"sig": base64.b64encode(signature).decode(), "keyid": ""}],
        },
    }).encode()  # fmt: skip


def message_bundle(key: ec.EllipticCurvePrivateKey, digest: str) -> bytes:
    raw = bytes.fromhex(digest.split(":")[1])
    signature = key.sign(raw, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    return json.dumps({
        "mediaType": BUNDLE,
        "verificationMaterial": _material(key, None),
        "messageSignature": {
            "messageDigest": {"algorithm": "SHA2_256", "digest": base64.b64encode(raw).decode()},
            "signature": base64.b64encode(signature).decode(),
        },
    }).encode()  # fmt: skip


# Notation JWS ------------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def notation_jws(
    key: PrivateKey,
    chain: list[x509.Certificate],
    target: dict[str, Any],
    *,
    expiry: datetime | None = None,
    extra_critical: tuple[str, ...] = (),
) -> bytes:
    now = datetime.now(UTC).replace(microsecond=0)
    header: dict[str, Any] = {
        "alg": "PS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256",
        "cty": NOTATION_PAYLOAD,
        "crit": ["io.cncf.notary.signingScheme", *extra_critical],
        "io.cncf.notary.signingScheme": "notary.x509",
        "io.cncf.notary.signingTime": now.isoformat(),
    }
    if expiry is not None:
        header["io.cncf.notary.expiry"] = expiry.isoformat()
        header["crit"].append("io.cncf.notary.expiry")
    for name in extra_critical:
        header[name] = "x"
    protected = _b64url(json.dumps(header).encode())
    payload = _b64url(json.dumps({"targetArtifact": target}).encode())
    signing_input = f"{protected}.{payload}".encode()
    if isinstance(key, rsa.RSAPrivateKey):
        pss = padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.DIGEST_LENGTH)
        signature = key.sign(signing_input, pss, hashes.SHA256())
    else:
        r, s = utils.decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    x5c = [base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode() for c in chain]
    return json.dumps({
        "payload": payload,
        "protected": protected,
        "header": {"x5c": x5c, "io.cncf.notary.signingAgent": "dockyard-tests"},
        "signature": _b64url(signature),
    }).encode()  # fmt: skip


# Notation COSE -----------------------------------------------------------------------------


def notation_cose(
    key: PrivateKey,
    chain: list[x509.Certificate],
    target: dict[str, Any],
    *,
    expiry: datetime | None = None,
) -> bytes:
    """A tagged COSE_Sign1 as ``notation sign --signature-format cose`` writes it."""
    is_rsa = isinstance(key, rsa.RSAPrivateKey)
    headers: dict[Any, Any] = {
        1: -37 if is_rsa else -7,
        2: ["io.cncf.notary.signingScheme"],
        3: NOTATION_PAYLOAD,
        "io.cncf.notary.signingScheme": "notary.x509",
        "io.cncf.notary.signingTime": datetime.now(UTC).replace(microsecond=0),
    }
    if expiry is not None:
        headers["io.cncf.notary.expiry"] = expiry
        headers[2].append("io.cncf.notary.expiry")
    protected = cbor2.dumps(headers, datetime_as_timestamp=True)
    payload = json.dumps({"targetArtifact": target}).encode()
    to_sign = cbor2.dumps(["Signature1", protected, b"", payload])
    if isinstance(key, rsa.RSAPrivateKey):
        pss = padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.DIGEST_LENGTH)
        signature = key.sign(to_sign, pss, hashes.SHA256())
    else:
        r, s = utils.decode_dss_signature(key.sign(to_sign, ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    x5chain = [c.public_bytes(serialization.Encoding.DER) for c in chain]
    unprotected = {33: x5chain, "io.cncf.notary.signingAgent": "dockyard-tests"}
    return cbor2.dumps(cbor2.CBORTag(18, [protected, unprotected, payload, signature]))
