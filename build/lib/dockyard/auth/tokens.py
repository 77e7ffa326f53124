"""Docker registry bearer tokens (JWT): sign them, and verify them strictly.

The claim set is distribution's (docs/spec/auth/jwt.md): ``iss, sub, aud, exp, nbf, iat, jti``
and ``access: [{type, name, actions}]``. Verification refuses, before any signature check:
``alg: none`` and every ``HS*`` algorithm, a header carrying its own key (``jwk``, ``jku``,
``x5u``), ``crit`` extensions, and any algorithm that does not fit the resolved key. The key
comes only from a :class:`KeyResolver` (dockyard's own key ring, or the trusted certificates
and JWKS of ``auth.token``). Then PyJWT checks the signature, ``iss``, ``aud`` and the times
with a 60 s leeway. Errors never carry the token.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import jwt

from dockyard.auth.scopes import AccessSet, ResourceActions
from dockyard.auth.token_jwk import PublicKey
from dockyard.auth.token_keys import KeyRing

LEEWAY_SECONDS = 60
MAX_TOKEN_LENGTH = 16 * 1024
FORBIDDEN_HEADERS = ("jwk", "jku", "x5u", "crit", "b64", "zip", "enc")
ACCESS_TYPE = "JWT"
REFRESH_TYPE = "dockyard-refresh+jwt"
CACHE_SIZE = 1024


class TokenError(Exception):
    """A token that must not be honoured; the message names the reason, never the token."""


class KeyResolver(Protocol):
    def resolve(self, header: Mapping[str, Any]) -> tuple[PublicKey, frozenset[str]]:
        """The key that must have signed a token with this header, and the algorithms it may
        name; raises :class:`TokenError` if no trusted key fits."""
        ...

    def generation(self) -> int:
        """Changes whenever the trusted keys change (remembered verifications then expire)."""
        ...


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    subject: str
    access: AccessSet
    expires_at: float
    not_before: float
    claims: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    issued_at: int
    expires_in: int


class OwnKeys:
    """Issuer mode: only dockyard's own keys, found by ``kid``; certificate chains refused."""

    def __init__(self, ring: KeyRing) -> None:
        self.ring = ring

    def resolve(self, header: Mapping[str, Any]) -> tuple[PublicKey, frozenset[str]]:
        if "x5c" in header:
            raise TokenError("certificate chains are not accepted for dockyard's own tokens")
        kid = header.get("kid")
        key = self.ring.public_key(kid) if isinstance(kid, str) else None
        if key is None:
            raise TokenError("token signed by an unknown key")
        return key.public_key, frozenset({key.algorithm})

    def generation(self) -> int:
        return self.ring.generation()


def _header(raw: str) -> dict[str, Any]:
    if len(raw) > MAX_TOKEN_LENGTH or raw.count(".") != 2:
        raise TokenError("malformed token")
    try:
        header = jwt.get_unverified_header(raw)
    except jwt.PyJWTError:
        raise TokenError("malformed token") from None
    for name in FORBIDDEN_HEADERS:
        if name in header:
            raise TokenError(f"token header member {name!r} is not accepted")
    alg = header.get("alg")
    if not isinstance(alg, str) or alg.lower() == "none" or alg.upper().startswith("HS"):
        raise TokenError("token algorithm is not accepted")
    return header


def _check_type(header: Mapping[str, Any], expected: str) -> None:
    typ = header.get("typ")
    if expected == REFRESH_TYPE:
        if typ != REFRESH_TYPE:
            raise TokenError("not a refresh token")
    elif typ == REFRESH_TYPE:
        raise TokenError("a refresh token is not an access token")


class TokenVerifier:
    """Verify tokens for one issuer and audience against the keys a resolver trusts."""

    def __init__(
        self,
        resolver: KeyResolver,
        *,
        issuer: str,
        audience: str,
        token_type: str = ACCESS_TYPE,
        leeway: int = LEEWAY_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.resolver = resolver
        self.issuer = issuer
        self.audience = audience
        self.token_type = token_type
        self.leeway = leeway
        self.clock = clock
        self._cache: OrderedDict[bytes, VerifiedToken] = OrderedDict()
        self._generation = -1

    def verify(self, raw: str) -> VerifiedToken:
        """The token's subject and access, or :class:`TokenError`. Verified tokens are
        remembered (by SHA-256) until they expire or the trusted keys change."""
        generation = self.resolver.generation()
        if generation != self._generation:
            self._cache.clear()
            self._generation = generation
        key = hashlib.sha256(raw.encode()).digest()
        cached = self._cache.get(key)
        if cached is not None and self._current(cached):
            return cached
        verified = self._verify(raw)
        if not self._current(verified):
            raise TokenError("token has expired or is not valid yet")
        self._cache[key] = verified
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return verified

    def _current(self, token: VerifiedToken) -> bool:
        now = self.clock()
        return token.not_before - self.leeway <= now < token.expires_at + self.leeway

    def _verify(self, raw: str) -> VerifiedToken:
        header = _header(raw)
        _check_type(header, self.token_type)
        public_key, algorithms = self.resolver.resolve(header)
        if header["alg"] not in algorithms:
            raise TokenError("token algorithm does not fit its key")
        claims = self._decode(raw, public_key, header["alg"])
        subject = claims.get("sub", "")
        if not isinstance(subject, str):
            raise TokenError("token subject is not a string")
        return VerifiedToken(
            subject=subject,
            access=AccessSet.from_claim(claims.get("access")),
            expires_at=float(claims["exp"]),
            not_before=float(claims.get("nbf", 0)),
            claims=claims,
        )

    def _decode(self, raw: str, public_key: PublicKey, alg: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                raw,
                public_key,
                algorithms=[alg],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("token has expired") from None
        except jwt.ImmatureSignatureError:
            raise TokenError("token is not valid yet") from None
        except jwt.InvalidAudienceError:
            raise TokenError("token is meant for another service") from None
        except jwt.InvalidIssuerError:
            raise TokenError("token comes from an untrusted issuer") from None
        except jwt.PyJWTError:
            raise TokenError("token signature or claims are invalid") from None
        return claims


class TokenIssuer:
    """Sign tokens with the newest key of a :class:`KeyRing`."""

    def __init__(
        self,
        ring: KeyRing,
        *,
        issuer: str,
        audience: str,
        lifetime: int,
        token_type: str = ACCESS_TYPE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.ring = ring
        self.issuer = issuer
        self.audience = audience
        self.lifetime = lifetime
        self.token_type = token_type
        self.clock = clock

    def issue(
        self,
        subject: str,
        access: Iterable[ResourceActions] = (),
        extra: Mapping[str, Any] | None = None,
    ) -> IssuedToken:
        now = int(self.clock())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self.audience,
            "exp": now + self.lifetime,
            "nbf": now,
            "iat": now,
            "jti": secrets.token_urlsafe(18),
            "access": [entry.claim() for entry in access],
            **(extra or {}),
        }
        signer = self.ring.signer()
        headers = {"kid": signer.kid, "typ": self.token_type}
        token = jwt.encode(claims, signer.private_key, algorithm=signer.algorithm, headers=headers)
        return IssuedToken(token, now, self.lifetime)
