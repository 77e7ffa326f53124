"""Cross-check of the DSSE envelopes in Sigstore bundles with another implementation:
securesystemslib (the in-toto/TUF library) signs an envelope that dockyard verifies, and
verifies the envelopes the tests' fixtures make (so both sides agree on DSSE's
pre-authentication encoding, not only dockyard with itself)."""

from __future__ import annotations

import base64
import copy
import hashlib
import json

import pytest
from securesystemslib.dsse import Envelope
from securesystemslib.exceptions import VerificationError
from securesystemslib.signer import CryptoSigner

from dockyard.core.signatures import cosign
from dockyard.core.signatures.model import SignatureError
from dockyard.core.signatures.trust import Signer
from support.signing import BUNDLE, dsse_bundle, ec_key, public_pem

DIGEST = "sha256:" + hashlib.sha256(b"image").hexdigest()
STATEMENT = {
    "_type": "https://in-toto.io/Statement/v1",
    "subject": [{"name": "registry.test/app", "digest": {"sha256": DIGEST.split(":")[1]}}],
    "predicateType": "https://sigstore.dev/cosign/sign/v1",
    "predicate": {},
}


def test_dockyard_verifies_an_envelope_signed_by_securesystemslib() -> None:
    key = ec_key()
    envelope = Envelope(json.dumps(STATEMENT).encode(), "application/vnd.in-toto+json", {})
    envelope.sign(CryptoSigner(key))
    document = {
        "mediaType": BUNDLE,
        "verificationMaterial": {"publicKey": {"hint": "sslib"}},
        "dsseEnvelope": envelope.to_dict(),
    }
    signed = cosign.bundle(json.dumps(document).encode(), DIGEST)
    Signer.parse("key", public_pem(key)).verify(signed)
    with pytest.raises(SignatureError, match="does not verify"):
        Signer.parse("key", public_pem(ec_key())).verify(signed)


def test_securesystemslib_verifies_the_fixture_envelopes() -> None:
    key = ec_key()
    signer = CryptoSigner(key)
    envelope_dict = json.loads(dsse_bundle(key, DIGEST))["dsseEnvelope"]
    envelope_dict["signatures"][0]["keyid"] = signer.public_key.keyid
    envelope = Envelope.from_dict(copy.deepcopy(envelope_dict))  # from_dict consumes it
    assert signer.public_key.keyid in envelope.verify([signer.public_key], 1)
    payload = json.loads(base64.b64decode(envelope_dict["payload"]))
    payload["predicate"] = {"changed": True}
    envelope_dict["payload"] = base64.b64encode(json.dumps(payload).encode()).decode()
    with pytest.raises(VerificationError):
        Envelope.from_dict(copy.deepcopy(envelope_dict)).verify([signer.public_key], 1)
