"""Signature formats read and verified against trusted signers: cosign's simple signing (key
and certificate), Sigstore bundles (DSSE and message signature), Notation JWS (ECDSA and
RSA-PSS); and every bad case refused with a reason: wrong key, tampered payload, another
digest, expired or foreign certificate, identity rules, malformed envelopes."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from dockyard.core.signatures import cosign, notation
from dockyard.core.signatures.model import SignatureError, SignedData
from dockyard.core.signatures.trust import Signer
from support.signing import (
    Authority,
    cosign_layer_annotations,
    dsse_bundle,
    ec_key,
    make_ca,
    make_leaf,
    message_bundle,
    notation_cose,
    notation_jws,
    public_pem,
    simple_signing_payload,
)

DIGEST = "sha256:" + hashlib.sha256(b"image").hexdigest()
OTHER = "sha256:" + hashlib.sha256(b"other").hexdigest()
NOW = datetime.now(UTC)
TARGET = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": DIGEST, "size": 9}


def key_signer(key: object) -> Signer:
    return Signer.parse("key", public_pem(key))  # type: ignore[arg-type]


def refused(signer: Signer, signed: SignedData, reason: str) -> None:
    with pytest.raises(SignatureError, match=reason):
        signer.verify(signed, NOW)


# cosign tag scheme --------------------------------------------------------------------------


def test_simple_signing_verifies_with_the_right_key_only() -> None:
    key, payload = ec_key(), simple_signing_payload(DIGEST)
    signed = cosign.simple_signing(payload, cosign_layer_annotations(key, payload), DIGEST)
    key_signer(key).verify(signed, NOW)
    refused(key_signer(ec_key()), signed, "does not verify")


def test_simple_signing_with_an_rsa_key() -> None:
    key = rsa.generate_private_key(65537, 2048)
    payload = simple_signing_payload(DIGEST)
    signed = cosign.simple_signing(payload, cosign_layer_annotations(key, payload), DIGEST)
    key_signer(key).verify(signed, NOW)


def test_tampered_payload_is_refused() -> None:
    key, payload = ec_key(), simple_signing_payload(DIGEST)
    annotations = cosign_layer_annotations(key, payload)
    tampered = payload.replace(b"registry.test/app", b"registry.test/evil")
    refused(key_signer(key), cosign.simple_signing(tampered, annotations, DIGEST), "not verify")


def test_signature_for_another_digest_is_refused() -> None:
    key, payload = ec_key(), simple_signing_payload(OTHER)
    with pytest.raises(SignatureError, match="not sha256:"):
        cosign.simple_signing(payload, cosign_layer_annotations(key, payload), DIGEST)


@pytest.mark.parametrize(
    ("payload", "annotations", "reason"),
    [
        (b"{not json", {}, "not JSON"),
        (b"[]", {}, "not a JSON object"),
        (json.dumps({"critical": {"type": "x"}}).encode(), {}, "not a cosign"),
        (simple_signing_payload(DIGEST), {}, "signature annotation is missing"),
        (
            simple_signing_payload(DIGEST),
            {"dev.cosignproject.cosign/signature": "%%%"},
            "not base64",
        ),
        (
            simple_signing_payload(DIGEST),
            {
                "dev.cosignproject.cosign/signature": "AAAA",
                "dev.sigstore.cosign/certificate": "junk",
            },
            "certificate",
        ),
    ],
)
def test_malformed_simple_signing_is_refused(
    payload: bytes, annotations: dict[str, str], reason: str
) -> None:
    with pytest.raises(SignatureError, match=reason):
        cosign.simple_signing(payload, annotations, DIGEST)


def test_certificate_signature_against_a_ca_with_identity_rules() -> None:
    ca = make_ca()
    key, leaf = make_leaf(ca, email="ci@example.test")
    payload = simple_signing_payload(DIGEST)
    signed = cosign.simple_signing(payload, cosign_layer_annotations(key, payload, leaf), DIGEST)
    Signer.parse("ca", ca.pem).verify(signed, NOW)
    Signer.parse("ca", ca.pem, ("email:ci@example.test",)).verify(signed, NOW)
    Signer.parse("ca", ca.pem, ("subject:CN=signer,O=dockyard tests",)).verify(signed, NOW)
    refused(Signer.parse("ca", ca.pem, ("email:other@example.test",)), signed, "identity")
    refused(Signer.parse("ca", make_ca("another root").pem), signed, "does not chain")


def test_expired_certificate_is_refused() -> None:
    ca = make_ca()
    key, leaf = make_leaf(ca, expired=True)
    payload = simple_signing_payload(DIGEST)
    signed = cosign.simple_signing(payload, cosign_layer_annotations(key, payload, leaf), DIGEST)
    refused(Signer.parse("ca", ca.pem), signed, "expired")


def test_certificate_whose_key_did_not_sign_is_refused() -> None:
    ca = make_ca()
    _, leaf = make_leaf(ca)
    payload = simple_signing_payload(DIGEST)
    annotations = cosign_layer_annotations(ec_key(), payload, leaf)  # signed by another key
    refused(
        Signer.parse("ca", ca.pem),
        cosign.simple_signing(payload, annotations, DIGEST),
        "not verify",
    )


def test_a_ca_signer_needs_a_certificate() -> None:
    key, payload = ec_key(), simple_signing_payload(DIGEST)
    signed = cosign.simple_signing(payload, cosign_layer_annotations(key, payload), DIGEST)
    refused(Signer.parse("ca", make_ca().pem), signed, "no certificate")


def test_attachment_tags() -> None:
    hex_part = DIGEST.split(":")[1]
    assert cosign.signature_tag(DIGEST) == f"sha256-{hex_part}.sig"
    for tag in (f"sha256-{hex_part}", f"sha256-{hex_part}.sig", f"sha256-{hex_part}.att"):
        assert cosign.is_attachment_tag(tag)
    for tag in ("sha256-abc.sig", "v1", f"sha256-{hex_part}.sigx", f"x-sha256-{hex_part}"):
        assert not cosign.is_attachment_tag(tag)


# Sigstore bundle ----------------------------------------------------------------------------


def test_dsse_bundle_with_a_key_and_with_a_certificate() -> None:
    key = ec_key()
    key_signer(key).verify(cosign.bundle(dsse_bundle(key, DIGEST), DIGEST), NOW)
    ca = make_ca()
    leaf_key, leaf = make_leaf(ca)
    signed = cosign.bundle(dsse_bundle(leaf_key, DIGEST, certificate=leaf), DIGEST)
    Signer.parse("ca", ca.pem).verify(signed, NOW)
    refused(key_signer(ec_key()), signed, "not verify")


def test_message_signature_bundle() -> None:
    key = ec_key()
    key_signer(key).verify(cosign.bundle(message_bundle(key, DIGEST), DIGEST), NOW)
    with pytest.raises(SignatureError, match="not sha256"):
        cosign.bundle(message_bundle(key, OTHER), DIGEST)


def test_bundle_for_another_digest_or_an_attestation_is_refused() -> None:
    key = ec_key()
    with pytest.raises(SignatureError, match="subject"):
        cosign.bundle(dsse_bundle(key, OTHER), DIGEST)
    provenance = dsse_bundle(key, DIGEST, predicate_type="https://slsa.dev/provenance/v1")
    with pytest.raises(SignatureError, match="attestation"):
        cosign.bundle(provenance, DIGEST)


def test_tampered_dsse_payload_is_refused() -> None:
    key = ec_key()
    document = json.loads(dsse_bundle(key, DIGEST))
    statement = json.loads(base64.b64decode(document["dsseEnvelope"]["payload"]))
    statement["predicate"] = {"tampered": True}
    document["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    signed = cosign.bundle(json.dumps(document).encode(), DIGEST)
    refused(key_signer(key), signed, "not verify")


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ({"mediaType": "application/json"}, "not a Sigstore bundle"),
        ({"mediaType": cosign.BUNDLE_MEDIA_TYPE}, "verificationMaterial"),
        ({"mediaType": cosign.BUNDLE_MEDIA_TYPE, "verificationMaterial": {}}, "neither"),
    ],
)
def test_malformed_bundles_are_refused(document: dict[str, object], reason: str) -> None:
    with pytest.raises(SignatureError, match=reason):
        cosign.bundle(json.dumps(document).encode(), DIGEST)


# Notation JWS ---------------------------------------------------------------------------


def test_notation_jws_ecdsa_and_rsa_pss() -> None:
    ca = make_ca()
    for key in (ec_key(), rsa.generate_private_key(65537, 2048)):
        leaf_key, leaf = make_leaf(ca, key=key)
        document = notation_jws(leaf_key, [leaf], TARGET)
        signed = notation.envelope(notation.JWS_MEDIA_TYPE, document, DIGEST, NOW)
        Signer.parse("ca", ca.pem, ("subject:CN=signer,O=dockyard tests",)).verify(signed, NOW)
        refused(Signer.parse("ca", make_ca("other").pem), signed, "does not chain")


def test_notation_through_an_intermediate_ca_only() -> None:
    root = make_ca("root")
    for is_ca, works in ((True, True), (False, False)):
        middle_key, middle = make_leaf(root, "intermediate", is_ca=is_ca)
        key, leaf = make_leaf(Authority(middle_key, middle), "leaf")
        document = notation_jws(key, [leaf, middle], TARGET)
        signed = notation.envelope(notation.JWS_MEDIA_TYPE, document, DIGEST, NOW)
        if works:
            Signer.parse("ca", root.pem).verify(signed, NOW)
        else:
            refused(Signer.parse("ca", root.pem), signed, "does not chain")


def test_notation_for_another_digest_expired_or_tampered_is_refused() -> None:
    ca = make_ca()
    key, leaf = make_leaf(ca)
    other = {**TARGET, "digest": OTHER}
    with pytest.raises(SignatureError, match="does not target"):
        notation.envelope(notation.JWS_MEDIA_TYPE, notation_jws(key, [leaf], other), DIGEST, NOW)
    lapsed = notation_jws(key, [leaf], TARGET, expiry=NOW - timedelta(minutes=1))
    with pytest.raises(SignatureError, match="expired"):
        notation.envelope(notation.JWS_MEDIA_TYPE, lapsed, DIGEST, NOW)
    document = json.loads(notation_jws(key, [leaf], TARGET))
    document["signature"] = document["signature"][::-1]
    signed = notation.envelope(notation.JWS_MEDIA_TYPE, json.dumps(document).encode(), DIGEST, NOW)
    refused(Signer.parse("ca", ca.pem), signed, "verif")


def test_notation_expired_certificate_and_unknown_critical_headers() -> None:
    ca = make_ca()
    key, leaf = make_leaf(ca, expired=True)
    signed = notation.envelope(
        notation.JWS_MEDIA_TYPE, notation_jws(key, [leaf], TARGET), DIGEST, NOW
    )
    refused(Signer.parse("ca", ca.pem), signed, "expired")
    key, leaf = make_leaf(ca)
    odd = notation_jws(key, [leaf], TARGET, extra_critical=("x-unknown",))
    with pytest.raises(SignatureError, match="not understood"):
        notation.envelope(notation.JWS_MEDIA_TYPE, odd, DIGEST, NOW)


def test_notation_is_verified_against_ca_signers_only() -> None:
    ca = make_ca()
    key, leaf = make_leaf(ca)
    signed = notation.envelope(
        notation.JWS_MEDIA_TYPE, notation_jws(key, [leaf], TARGET), DIGEST, NOW
    )
    refused(key_signer(key), signed, "ca signers only")


@pytest.mark.parametrize(
    ("kind", "pem", "identities", "reason"),
    [
        ("key", "not pem", (), "not a PEM public key"),
        ("ca", "not pem", (), "PEM certificates"),
        ("gpg", "x", (), "use key or ca"),
        ("ca", None, ("nonsense",), "identity rule"),
        ("key", "KEY", ("email:a@b",), "ca signers only"),
    ],
)
def test_bad_signers_are_refused(
    kind: str, pem: str | None, identities: tuple[str, ...], reason: str
) -> None:
    text = {None: make_ca().pem, "KEY": public_pem(ec_key())}.get(pem, pem)
    with pytest.raises(SignatureError, match=reason):
        Signer.parse(kind, str(text), identities)


# Notation COSE --------------------------------------------------------------------------


def test_notation_cose_ecdsa_and_rsa_pss() -> None:
    ca = make_ca()
    for key in (ec_key(), rsa.generate_private_key(65537, 2048)):
        leaf_key, leaf = make_leaf(ca, key=key)
        document = notation_cose(leaf_key, [leaf], TARGET)
        signed = notation.envelope(notation.COSE_MEDIA_TYPE, document, DIGEST, NOW)
        assert signed.format == "notation-cose"
        Signer.parse("ca", ca.pem, ("subject:CN=signer,O=dockyard tests",)).verify(signed, NOW)
        refused(Signer.parse("ca", make_ca("other").pem), signed, "does not chain")


def test_notation_cose_bad_cases_are_refused() -> None:
    ca = make_ca()
    key, leaf = make_leaf(ca)
    other = {**TARGET, "digest": OTHER}
    with pytest.raises(SignatureError, match="does not target"):
        notation.envelope(notation.COSE_MEDIA_TYPE, notation_cose(key, [leaf], other), DIGEST, NOW)
    lapsed = notation_cose(key, [leaf], TARGET, expiry=NOW - timedelta(minutes=1))
    with pytest.raises(SignatureError, match="expired"):
        notation.envelope(notation.COSE_MEDIA_TYPE, lapsed, DIGEST, NOW)
    tampered = bytearray(notation_cose(key, [leaf], TARGET))
    tampered[-1] ^= 0xFF  # the last byte of the signature
    signed = notation.envelope(notation.COSE_MEDIA_TYPE, bytes(tampered), DIGEST, NOW)
    refused(Signer.parse("ca", ca.pem), signed, "does not verify")
    for junk, reason in ((b"\xff\xff", "not CBOR"), (b"\x80", "COSE_Sign1")):
        with pytest.raises(SignatureError, match=reason):
            notation.envelope(notation.COSE_MEDIA_TYPE, junk, DIGEST, NOW)
