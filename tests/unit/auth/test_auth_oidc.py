"""The OIDC backend against a real (test) OpenID provider on loopback: discovery, JWKS, every
kind of bad ID token, key rotation, outages, the refresh rate limit, TLS; and the claim mapping."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from dockyard.auth.identity import ExternalIdentity
from dockyard.auth.oidc import ClaimError, ClaimMapping, OidcBackend, looks_like_jwt
from dockyard.auth.oidc_keys import OidcKeys, tls_verify
from dockyard.auth.token_jwk import public_jwk
from dockyard.core.errors import ErrorCode, RegistryError
from e2e.clientkit import make_tls
from support.oidc import CLIENT_ID, TestProvider, ec_key, oidc_provider, rsa_key

Run = Any


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def provider() -> Iterator[TestProvider]:
    with oidc_provider() as running:
        yield running


def backend_for(
    provider: TestProvider, clock: Clock | None = None, *, interval: float = 30.0, **kw: Any
) -> OidcBackend:
    keys = OidcKeys(
        kw.pop("issuer", provider.issuer), algorithms=kw.pop("algorithms", ("RS256", "ES256")),
        ttl=kw.pop("ttl", 3600.0), min_interval=interval, timeout=2.0,
        clock=clock or Clock(), verify=kw.pop("verify", True),
    )  # fmt: skip
    return OidcBackend(keys, client_id=CLIENT_ID, dummy_cost=4, **kw)


def test_valid_tokens_name_the_user_and_groups(provider: TestProvider, run: Run) -> None:
    backend = backend_for(provider)
    rsa_token = provider.mint("alice", groups=["devs", "ops"])
    found = run(backend.authenticate("alice", rsa_token))
    assert found == ExternalIdentity("alice", "oidc", ("devs", "ops"), "alice@example.test")
    ec_token = provider.mint("bob", key=provider.published[1], groups="readers")
    assert run(backend.authenticate("bob", ec_token)) == ExternalIdentity(
        "bob", "oidc", ("readers",), "bob@example.test"
    )
    assert provider.fetches == {"discovery": 1, "jwks": 1}  # one fetch served both


def _hs256_with_public_key(provider: TestProvider) -> str:
    """The classic attack: the provider's public key used as an HMAC secret."""
    pem = provider.signer.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": provider.signer.kid}
    body = json.dumps(provider.claims("alice")).encode()
    return _sign_hmac(header, body, pem)


def _sign_hmac(header: dict[str, Any], body: bytes, secret: bytes) -> str:
    import hashlib
    import hmac

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    signing_input = f"{b64(json.dumps(header).encode())}.{b64(body)}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def _alg_none(provider: TestProvider) -> str:
    claims = provider.claims("alice")
    token = jwt.encode(claims, "", algorithm="none", headers={"kid": provider.signer.kid})
    assert jwt.get_unverified_header(token)["alg"] == "none"
    return token


BAD_TOKENS: dict[str, Callable[[TestProvider], str]] = {
    "wrong audience": lambda p: p.mint(aud="another-client"),
    "audience list without us": lambda p: p.mint(aud=["a", "b"]),
    "azp names another client": lambda p: p.mint(aud=[CLIENT_ID, "b"], azp="b"),
    "wrong issuer": lambda p: p.mint(iss="http://127.0.0.1:1"),
    "expired": lambda p: p.mint(exp=p.claims()["iat"] - 3600),
    "not valid yet": lambda p: p.mint(nbf=p.claims()["iat"] + 3600),
    "issued in the future": lambda p: p.mint(iat=p.claims()["iat"] + 3600),
    "no iat": lambda p: p.mint(iat=None),
    "no exp": lambda p: p.mint(exp=None),
    "no sub": lambda p: p.mint(sub=None),
    "alg none": _alg_none,
    "HS256 with the public key": _hs256_with_public_key,
    "unknown kid": lambda p: p.mint(key=rsa_key("nobody-knows")),
    "another key under a published kid": lambda p: p.mint(key=rsa_key(p.signer.kid)),
    "EC key under the RSA kid": lambda p: p.mint(key=ec_key(p.signer.kid)),
    "embedded jwk": lambda p: p.mint(
        headers={"jwk": public_jwk(p.signer.private_key.public_key())}
    ),
    "tampered claims": lambda p: _tampered(p.mint("bob"), "alice"),
    "not a JWT": lambda p: "alice-password",
}


def _tampered(token: str, username: str) -> str:
    header, body, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    claims["preferred_username"] = username
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"{header}.{forged}.{signature}"


@pytest.mark.parametrize("kind", list(BAD_TOKENS))
def test_bad_tokens_are_wrong_passwords(provider: TestProvider, run: Run, kind: str) -> None:
    backend = backend_for(provider)
    assert run(backend.authenticate("alice", provider.mint("alice"))) is not None
    assert run(backend.authenticate("alice", BAD_TOKENS[kind](provider))) is None


def test_algorithm_outside_the_allow_list(provider: TestProvider, run: Run) -> None:
    backend = backend_for(provider, algorithms=("RS256",))
    assert run(backend.authenticate("alice", provider.mint("alice"))) is not None
    ec_token = provider.mint("alice", key=provider.published[1])
    assert run(backend.authenticate("alice", ec_token)) is None


def test_user_name_must_match_the_claim(provider: TestProvider, run: Run) -> None:
    backend = backend_for(provider)
    token = provider.mint("alice")
    assert run(backend.authenticate("bob", token)) is None
    assert run(backend.authenticate("Alice", token)) is None
    assert run(backend.authenticate("alice", token)) is not None


def test_unknown_kids_cannot_hammer_the_provider(provider: TestProvider, run: Run) -> None:
    clock = Clock()
    backend = backend_for(provider, clock, interval=30.0)
    assert run(backend.authenticate("alice", provider.mint("alice"))) is not None
    for number in range(20):
        forged = provider.mint("alice", key=rsa_key(f"random-{number}"))
        assert run(backend.authenticate("alice", forged)) is None
    assert provider.fetches["jwks"] == 1  # all within the refresh interval of the first fetch
    clock.now += 31
    for number in range(20):
        assert run(backend.authenticate("alice", provider.mint(key=rsa_key(f"x{number}")))) is None
    assert provider.fetches["jwks"] == 2  # one more fetch per interval, however many kids


def test_key_rotation_is_picked_up(provider: TestProvider, run: Run) -> None:
    clock = Clock()
    backend = backend_for(provider, clock, interval=30.0)
    old = provider.mint("alice")
    assert run(backend.authenticate("alice", old)) is not None
    provider.rotate()
    clock.now += 31
    new = provider.mint("alice")
    assert run(backend.authenticate("alice", new)) is not None  # unknown kid: fetched again
    assert provider.fetches["jwks"] == 2
    clock.now += 31
    fresh_old = provider.mint("alice", key=rsa_key("withdrawn"))
    assert run(backend.authenticate("alice", fresh_old)) is None
    assert run(backend.authenticate("alice", old)) is None  # its key was withdrawn


def test_provider_outage_gives_unavailable_then_recovers(run: Run) -> None:
    clock = Clock()
    provider = TestProvider()  # not started: connection refused
    backend = backend_for(provider, clock, interval=5.0)
    token = provider.mint("alice")
    for _ in range(2):  # the second answer comes from the remembered failure
        with pytest.raises(RegistryError) as caught:
            run(backend.authenticate("alice", token))
        assert caught.value.code is ErrorCode.UNAVAILABLE
        assert "alice" not in caught.value.message and token not in caught.value.message
    provider.start()
    try:
        with pytest.raises(RegistryError):  # within the refresh interval: not asked again
            run(backend.authenticate("alice", token))
        assert provider.fetches["discovery"] == 0
        clock.now += 6
        assert run(backend.authenticate("alice", token)) is not None
    finally:
        provider.stop()


def test_known_keys_outlive_an_outage(provider: TestProvider, run: Run) -> None:
    clock = Clock()
    backend = backend_for(provider, clock, interval=5.0, ttl=60.0)
    assert run(backend.authenticate("alice", provider.mint("alice"))) is not None
    provider.stop()
    clock.now += 120  # keys are stale, the provider is down: the old keys still serve
    assert run(backend.authenticate("alice", provider.mint("alice", jti="2"))) is not None
    assert run(backend.authenticate("alice", provider.mint(key=rsa_key("unknown")))) is None


def test_discovery_must_name_the_configured_issuer(provider: TestProvider, run: Run) -> None:
    provider.discovery_issuer = provider.issuer + "/other"
    with pytest.raises(RegistryError) as caught:
        run(backend_for(provider).authenticate("alice", provider.mint("alice")))
    assert caught.value.code is ErrorCode.UNAVAILABLE
    assert provider.fetches["jwks"] == 0


def test_trailing_slash_is_another_issuer(provider: TestProvider, run: Run) -> None:
    backend = backend_for(provider, issuer=provider.issuer + "/")
    with pytest.raises(RegistryError):
        run(backend.authenticate("alice", provider.mint("alice")))


def test_tls_provider_with_its_ca(tmp_path: Path, run: Run) -> None:
    tls = make_tls(tmp_path / "tls")
    with oidc_provider(tls=(str(tls.cert), str(tls.key))) as provider:
        token = provider.mint("alice")
        trusted = backend_for(provider, verify=tls_verify(str(tls.ca), False))
        assert run(trusted.authenticate("alice", token)) is not None
        skipping = backend_for(provider, verify=tls_verify("", True))
        assert run(skipping.authenticate("alice", token)) is not None
        with pytest.raises(RegistryError) as caught:  # system CAs do not know the test CA
            run(backend_for(provider).authenticate("alice", token))
        assert caught.value.code is ErrorCode.UNAVAILABLE


# claim mapping -------------------------------------------------------------------------------


def test_username_claim_defaults_and_overrides() -> None:
    default = ClaimMapping()
    assert default.username_of({"preferred_username": "alice", "sub": "id-1"}) == "alice"
    assert default.username_of({"sub": "id-1"}) == "id-1"
    assert default.username_of({"preferred_username": "", "sub": "id-1"}) == "id-1"
    by_email = ClaimMapping(username="email")
    assert by_email.username_of({"email": "a@example.test", "sub": "x"}) == "a@example.test"
    with pytest.raises(ClaimError):
        by_email.username_of({"sub": "x"})  # no fallback when a claim is named
    assert default.username_of({"preferred_username": 42, "sub": "id-1"}) == "id-1"
    for bad in ("", "has space", "robot$x", "-dash", "x" * 65, 42):
        with pytest.raises(ClaimError):
            default.username_of({"preferred_username": bad})


def test_groups_claim_shapes() -> None:
    mapping = ClaimMapping()
    assert mapping.groups_of({"groups": ["b", "a", "a", " c "]}) == ("a", "b", "c")
    assert mapping.groups_of({"groups": "solo"}) == ("solo",)
    assert mapping.groups_of({}) == ()
    assert mapping.groups_of({"groups": {"a": 1}}) == ()
    assert mapping.groups_of({"groups": ["/keycloak/path", 7, None, "ok", "x" * 200]}) == ("ok",)
    assert ClaimMapping(groups="roles").groups_of({"roles": ["r"], "groups": ["g"]}) == ("r",)
    assert ClaimMapping(groups="").groups_of({"groups": ["g"]}) == ()


def test_email_claim() -> None:
    assert ClaimMapping().email_of({"email": "a@b.test"}) == "a@b.test"
    assert ClaimMapping().email_of({"email": ["a@b.test"]}) == ""
    assert ClaimMapping(email="mail").email_of({"mail": "m@b.test"}) == "m@b.test"


def test_only_jwt_shaped_passwords_are_tried() -> None:
    assert looks_like_jwt("aaa.bbb.ccc")
    assert not looks_like_jwt("a password with spaces")
    assert not looks_like_jwt("dyp_abc.def")
    assert not looks_like_jwt("a.b.c" + "x" * 20000)
