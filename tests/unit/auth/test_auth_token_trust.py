"""Consumer mode trust: root certificate bundles, x5c chains, libtrust kids, JWKS files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dockyard.auth.token_jwk import jwk_thumbprint, libtrust_key_id, public_jwk
from dockyard.auth.token_trust import TrustError, TrustStore
from dockyard.auth.tokens import TokenError, TokenVerifier
from support.tokens import (
    CertKey,
    claims,
    ec_key,
    forge_hs256,
    forge_none,
    make_cert,
    mint,
    public_pem,
)

ISSUER, SERVICE = "auth.example", "registry.example"


@pytest.fixture(scope="module")
def pki() -> dict[str, CertKey]:
    root = make_cert("test root", ca=True)
    intermediate = make_cert("test intermediate", issuer=root, ca=True)
    signer = make_cert("token signer", issuer=intermediate)
    self_signed = make_cert("docker_auth style signer")
    other_root = make_cert("someone else's root", ca=True)
    return {
        "root": root,
        "intermediate": intermediate,
        "signer": signer,
        "self_signed": self_signed,
        "other_root": other_root,
        "stranger": make_cert("stranger", issuer=other_root),
    }


@pytest.fixture
def verifier(pki: dict[str, CertKey]) -> TokenVerifier:
    store = TrustStore([pki["root"].cert, pki["self_signed"].cert])
    return TokenVerifier(store, issuer=ISSUER, audience=SERVICE)


def _claims() -> dict[str, object]:
    return claims(issuer=ISSUER, audience=SERVICE)


def test_x5c_chain_to_a_bundled_root(pki: dict[str, CertKey], verifier: TokenVerifier) -> None:
    chain = [pki["signer"].der_b64, pki["intermediate"].der_b64]
    token = mint(_claims(), pki["signer"].key, headers={"x5c": chain})
    assert verifier.verify(token).subject == "alice"


def test_kid_is_the_libtrust_fingerprint_of_a_bundled_key(
    pki: dict[str, CertKey], verifier: TokenVerifier
) -> None:
    key = pki["self_signed"].key
    assert verifier.verify(mint(_claims(), key, kid=libtrust_key_id(key.public_key())))
    assert verifier.verify(mint(_claims(), key, kid=jwk_thumbprint(key.public_key())))


def test_self_signed_leaf_in_the_bundle_as_x5c(
    pki: dict[str, CertKey], verifier: TokenVerifier
) -> None:
    signer = pki["self_signed"]
    assert verifier.verify(mint(_claims(), signer.key, headers={"x5c": [signer.der_b64]}))


@pytest.mark.parametrize(
    "case",
    [
        "chain-to-other-root",
        "leaf-without-intermediate",
        "key-not-matching-leaf",
        "unknown-kid",
        "trusted-kid-wrong-key",
        "none",
        "hs256-with-cert-key",
        "embedded-jwk",
        "garbage-x5c",
    ],
)
def test_forged_consumer_tokens_are_refused(
    case: str, pki: dict[str, CertKey], verifier: TokenVerifier
) -> None:
    payload = _claims()
    trusted = pki["self_signed"]
    trusted_kid = libtrust_key_id(trusted.key.public_key())
    tokens = {
        "chain-to-other-root": lambda: mint(
            payload, pki["stranger"].key, headers={"x5c": [pki["stranger"].der_b64]}
        ),
        "leaf-without-intermediate": lambda: mint(
            payload, pki["signer"].key, headers={"x5c": [pki["signer"].der_b64]}
        ),
        "key-not-matching-leaf": lambda: mint(
            payload, ec_key(), headers={"x5c": [pki["signer"].der_b64, pki["intermediate"].der_b64]}
        ),
        "unknown-kid": lambda: mint(payload, ec_key(), kid="NOPE"),
        "trusted-kid-wrong-key": lambda: mint(payload, ec_key(), kid=trusted_kid),
        "none": lambda: forge_none(payload, kid=trusted_kid),
        "hs256-with-cert-key": lambda: forge_hs256(payload, public_pem(trusted.key), trusted_kid),
        "embedded-jwk": lambda: mint(
            payload, trusted.key, headers={"jwk": public_jwk(trusted.key.public_key())}
        ),
        "garbage-x5c": lambda: mint(payload, trusted.key, headers={"x5c": ["!!!"]}),
    }
    with pytest.raises(TokenError):
        verifier.verify(tokens[case]())


def test_expired_bundled_certificate_is_refused_as_x5c() -> None:
    old = make_cert("expired signer", days=-1, not_before_days=-3)
    store = TrustStore([old.cert])
    verifier = TokenVerifier(store, issuer=ISSUER, audience=SERVICE)
    with pytest.raises(TokenError):
        verifier.verify(mint(_claims(), old.key, headers={"x5c": [old.der_b64]}))


def test_wrong_issuer_or_audience(pki: dict[str, CertKey], verifier: TokenVerifier) -> None:
    key = pki["self_signed"].key
    kid = libtrust_key_id(key.public_key())
    with pytest.raises(TokenError):
        verifier.verify(mint(claims(issuer="evil", audience=SERVICE), key, kid=kid))
    with pytest.raises(TokenError):
        verifier.verify(mint(claims(issuer=ISSUER, audience="dockyard"), key, kid=kid))


def test_jwks_file_keys_by_kid(tmp_path: Path) -> None:
    key = ec_key()
    jwk = {**public_jwk(key.public_key()), "kid": "key-1"}
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [jwk, {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"}]}))
    store = TrustStore.load("", str(path))
    assert set(store.keys) == {"key-1"}
    verifier = TokenVerifier(store, issuer=ISSUER, audience=SERVICE)
    assert verifier.verify(mint(_claims(), key, kid="key-1")).subject == "alice"
    with pytest.raises(TokenError):
        verifier.verify(forge_hs256(_claims(), b"secret", kid="hmac"))


def test_signing_algorithms_restrict(pki: dict[str, CertKey], tmp_path: Path) -> None:
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(pki["self_signed"].pem)
    store = TrustStore.load(str(bundle), "", ["RS256"])
    verifier = TokenVerifier(store, issuer=ISSUER, audience=SERVICE)
    key = pki["self_signed"].key
    with pytest.raises(TokenError):
        verifier.verify(mint(_claims(), key, kid=libtrust_key_id(key.public_key())))
    with pytest.raises(TrustError, match="HS256"):
        TrustStore.load(str(bundle), "", ["HS256"])


def test_unusable_trust_material_fails_loudly(tmp_path: Path) -> None:
    with pytest.raises(TrustError, match="cannot read"):
        TrustStore.load(str(tmp_path / "missing.pem"), "")
    (tmp_path / "empty.pem").write_text("no certificates here\n")
    with pytest.raises(TrustError, match="no PEM certificates"):
        TrustStore.load(str(tmp_path / "empty.pem"), "")
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [{"kty": "oct", "k": "eA"}]}))
    with pytest.raises(TrustError, match="no usable"):
        TrustStore.load("", str(tmp_path / "jwks.json"))
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(TrustError, match="not JSON"):
        TrustStore.load("", str(tmp_path / "bad.json"))
