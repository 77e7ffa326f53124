"""Issuing and verifying dockyard's own tokens; every forgery the verifier must refuse."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import jwt
import pytest

from dockyard.auth.scopes import ResourceActions
from dockyard.auth.token_jwk import public_jwk
from dockyard.auth.token_keys import KeyRing
from dockyard.auth.tokens import (
    REFRESH_TYPE,
    OwnKeys,
    TokenError,
    TokenIssuer,
    TokenVerifier,
)
from support.tokens import (
    claims,
    ec_key,
    forge_hs256,
    forge_none,
    make_cert,
    mint,
    public_pem,
    repo_access,
)


@pytest.fixture
def ring(tmp_path: Path) -> KeyRing:
    keys = KeyRing(str(tmp_path / "keys"))
    keys.ensure()
    return keys


@pytest.fixture
def verifier(ring: KeyRing) -> TokenVerifier:
    return TokenVerifier(OwnKeys(ring), issuer="dockyard", audience="dockyard")


def _sign(ring: KeyRing, payload: dict[str, object], **headers: object) -> str:
    signer = ring.signer()
    return mint(payload, signer.private_key, kid=signer.kid, headers=dict(headers))


def test_issued_token_has_the_spec_claims(ring: KeyRing, verifier: TokenVerifier) -> None:
    issuer = TokenIssuer(ring, issuer="dockyard", audience="dockyard", lifetime=300)
    issued = issuer.issue("alice", [ResourceActions("repository", "a/b", ("pull", "push"))])
    header = jwt.get_unverified_header(issued.token)
    assert header == {"alg": "ES256", "kid": ring.signer().kid, "typ": "JWT"}
    body = jwt.decode(issued.token, options={"verify_signature": False})
    assert set(body) == {"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "access"}
    assert body["exp"] - body["iat"] == 300 == issued.expires_in
    assert body["access"] == repo_access("a/b", "pull", "push")
    verified = verifier.verify(issued.token)
    assert verified.subject == "alice"
    assert verified.access.permits("repository", "a/b", "push")


def test_jti_is_unique(ring: KeyRing) -> None:
    issuer = TokenIssuer(ring, issuer="dockyard", audience="dockyard", lifetime=300)
    ids = {jwt.decode(issuer.issue("a").token, options={"verify_signature": False})["jti"]}
    ids.add(jwt.decode(issuer.issue("a").token, options={"verify_signature": False})["jti"])
    assert len(ids) == 2


Forgery = Callable[[KeyRing], str]


def _none(ring: KeyRing) -> str:
    return forge_none(claims(), kid=ring.signer().kid)


def _hs256_with_public_key(ring: KeyRing) -> str:
    return forge_hs256(claims(), public_pem(ring.signer().private_key), kid=ring.signer().kid)


def _foreign_kid(ring: KeyRing) -> str:
    attacker = ec_key()
    return mint(
        claims(), attacker, kid="AAAA:BBBB:CCCC:DDDD:EEEE:FFFF:GGGG:HHHH:IIII:JJJJ:KKKK:LLLL"
    )


def _our_kid_their_key(ring: KeyRing) -> str:
    return mint(claims(), ec_key(), kid=ring.signer().kid)


def _embedded_jwk(ring: KeyRing) -> str:
    attacker = ec_key()
    jwk = public_jwk(attacker.public_key())
    return mint(claims(), attacker, kid=ring.signer().kid, headers={"jwk": jwk})


def _jku(ring: KeyRing) -> str:
    return _sign(ring, claims(), jku="https://evil.example/jwks.json")


def _x5c(ring: KeyRing) -> str:
    attacker = make_cert("attacker")
    return mint(claims(), attacker.key, headers={"x5c": [attacker.der_b64]})


def _wrong_aud(ring: KeyRing) -> str:
    return _sign(ring, claims(audience="another-registry"))


def _wrong_iss(ring: KeyRing) -> str:
    return _sign(ring, claims(issuer="someone-else"))


def _expired(ring: KeyRing) -> str:
    return _sign(ring, claims(now=time.time() - 400, lifetime=300))  # 100 s past exp


def _not_yet_valid(ring: KeyRing) -> str:
    payload = claims()
    payload["nbf"] = int(time.time()) + 120
    return _sign(ring, payload)


def _no_exp(ring: KeyRing) -> str:
    payload = claims()
    del payload["exp"]
    return _sign(ring, payload)


def _refresh_as_access(ring: KeyRing) -> str:
    return _sign(ring, claims(), typ=REFRESH_TYPE)


def _crit(ring: KeyRing) -> str:
    return _sign(ring, claims(), crit=["exp"])


def _tampered(ring: KeyRing) -> str:
    token = _sign(ring, claims(access=repo_access("a", "pull")))
    header, _, signature = token.split(".")
    other = _sign(ring, claims(access=repo_access("a", "pull", "push", "delete")))
    return f"{header}.{other.split('.')[1]}.{signature}"


FORGERIES: dict[str, Forgery] = {
    "alg-none": _none,
    "hs256-public-key": _hs256_with_public_key,
    "foreign-kid": _foreign_kid,
    "our-kid-their-key": _our_kid_their_key,
    "embedded-jwk": _embedded_jwk,
    "jku": _jku,
    "x5c-self-signed": _x5c,
    "wrong-aud": _wrong_aud,
    "wrong-iss": _wrong_iss,
    "expired": _expired,
    "nbf-future": _not_yet_valid,
    "no-exp": _no_exp,
    "refresh-typ": _refresh_as_access,
    "crit": _crit,
    "tampered-claims": _tampered,
}


@pytest.mark.parametrize("name", sorted(FORGERIES))
def test_forged_and_invalid_tokens_are_refused(
    name: str, ring: KeyRing, verifier: TokenVerifier
) -> None:
    token = FORGERIES[name](ring)
    with pytest.raises(TokenError) as caught:
        verifier.verify(token)
    assert token not in str(caught.value)


@pytest.mark.parametrize("junk", ["", "abc", "a.b", "a.b.c", "x" * 20000, "...."])
def test_garbage_is_refused(junk: str, verifier: TokenVerifier) -> None:
    with pytest.raises(TokenError):
        verifier.verify(junk)


def test_clock_leeway_is_sixty_seconds(ring: KeyRing, verifier: TokenVerifier) -> None:
    verifier.verify(_sign(ring, claims(now=time.time() - 330, lifetime=300)))  # 30 s past exp
    payload = claims()
    payload["nbf"] = int(time.time()) + 30
    verifier.verify(_sign(ring, payload))


def test_audience_list_is_accepted(ring: KeyRing, verifier: TokenVerifier) -> None:
    verifier.verify(_sign(ring, claims(audience=["other", "dockyard"])))


def test_cached_token_still_expires(ring: KeyRing) -> None:
    now = [time.time()]
    verifier = TokenVerifier(
        OwnKeys(ring), issuer="dockyard", audience="dockyard", clock=lambda: now[0]
    )
    token = _sign(ring, claims(lifetime=120))
    verifier.verify(token)
    now[0] += 170
    verifier.verify(token)  # cached, within the leeway
    now[0] += 20
    with pytest.raises(TokenError):
        verifier.verify(token)


def test_rotation_keeps_old_tokens_and_retiring_revokes_them(
    ring: KeyRing, verifier: TokenVerifier
) -> None:
    issuer = TokenIssuer(ring, issuer="dockyard", audience="dockyard", lifetime=300)
    old_key = ring.signer()
    old = issuer.issue("alice").token
    verifier.verify(old)
    new_key = ring.rotate()
    new = issuer.issue("alice").token
    assert jwt.get_unverified_header(new)["kid"] == new_key.kid
    verifier.verify(old)
    verifier.verify(new)
    assert ring.retire(old_key.kid)
    with pytest.raises(TokenError):
        verifier.verify(old)  # even though it was verified (and remembered) before
    verifier.verify(new)


def test_refresh_verifier_wants_refresh_tokens(ring: KeyRing) -> None:
    refresh = TokenVerifier(
        OwnKeys(ring), issuer="dockyard", audience="dockyard", token_type=REFRESH_TYPE
    )
    with pytest.raises(TokenError):
        refresh.verify(_sign(ring, claims()))
    assert refresh.verify(_sign(ring, claims(), typ=REFRESH_TYPE)).subject == "alice"
