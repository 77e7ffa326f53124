"""Consumer mode (``auth.token``): which keys an external token issuer may sign with.

As registry:2 does, a token's signing key is found in one of two ways:

- ``x5c`` header: a certificate chain whose leaf key signed the token. The chain must lead to a
  certificate in ``rootcertbundle`` (or the leaf must itself be one of them);
- ``kid`` header: the id of a trusted key. Every certificate in ``rootcertbundle`` is known by
  its key's libtrust fingerprint (registry:2 2.x) and its RFC 7638 thumbprint (distribution 3);
  every key in the ``jwks`` file by its own ``kid``.

An embedded ``jwk`` header is refused whatever it holds (distribution accepts one whose key is
already trusted; a token that names its trusted key by ``kid`` works the same). Symmetric
(``oct``) JWKS entries are skipped: a shared secret is not a trust anchor here.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
from collections.abc import Iterable, Mapping
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.verification import (
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from dockyard.auth.token_jwk import (
    ASYMMETRIC_ALGORITHMS,
    PublicKey,
    algorithms_for,
    as_public_key,
    jwk_thumbprint,
    key_from_jwk,
    libtrust_key_id,
)
from dockyard.auth.tokens import TokenError

MAX_CHAIN = 8


class TrustError(Exception):
    """``auth.token`` trust material that cannot be used (the server refuses to start)."""


def load_certificates(path: str) -> list[x509.Certificate]:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise TrustError(f"auth.token.rootcertbundle: cannot read {path}: {exc.strerror}") from None
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError:
        raise TrustError(f"auth.token.rootcertbundle: no PEM certificates in {path}") from None


def load_jwks(path: str) -> dict[str, PublicKey]:
    try:
        with open(path, "rb") as handle:
            document = json.loads(handle.read())
    except OSError as exc:
        raise TrustError(f"auth.token.jwks: cannot read {path}: {exc.strerror}") from None
    except ValueError:
        raise TrustError(f"auth.token.jwks: {path} is not JSON") from None
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise TrustError(f'auth.token.jwks: {path} has no "keys" list')
    keys: dict[str, PublicKey] = {}
    for entry in entries:
        key = key_from_jwk(entry)
        kid = entry.get("kid") if isinstance(entry, dict) else None
        if key is not None and algorithms_for(key):
            keys[kid if isinstance(kid, str) and kid else jwk_thumbprint(key)] = key
    return keys


class TrustStore:
    """Trusted certificates and keys of an external token issuer."""

    def __init__(
        self,
        roots: Iterable[x509.Certificate] = (),
        keys: Mapping[str, PublicKey] | None = None,
        algorithms: Iterable[str] = (),
    ) -> None:
        self.roots = list(roots)
        self.keys: dict[str, PublicKey] = {}
        for certificate in self.roots:
            key = as_public_key(certificate.public_key())
            if key is not None:
                self.keys[libtrust_key_id(key)] = key
                self.keys[jwk_thumbprint(key)] = key
        self.keys.update(keys or {})
        wanted = frozenset(algorithms) or ASYMMETRIC_ALGORITHMS
        self.algorithms = wanted & ASYMMETRIC_ALGORITHMS
        self._root_der = {c.public_bytes(Encoding.DER) for c in self.roots}
        if not self.keys:
            raise TrustError("auth.token: no usable token signing key or certificate")

    @classmethod
    def load(cls, rootcertbundle: str, jwks: str, algorithms: Iterable[str] = ()) -> TrustStore:
        roots = load_certificates(rootcertbundle) if rootcertbundle else []
        keys = load_jwks(jwks) if jwks else {}
        unknown = set(algorithms) - ASYMMETRIC_ALGORITHMS
        if unknown:
            raise TrustError(
                f"auth.token.signingalgorithms: not accepted: {', '.join(sorted(unknown))} "
                "(only asymmetric algorithms: ES*, RS*, PS*, EdDSA)"
            )
        return cls(roots, keys, algorithms)

    def generation(self) -> int:
        return 0

    def resolve(self, header: Mapping[str, Any]) -> tuple[PublicKey, frozenset[str]]:
        if "x5c" in header:
            key = self._chain_key(header["x5c"])
        else:
            kid = header.get("kid")
            found = self.keys.get(kid) if isinstance(kid, str) else None
            if found is None:
                raise TokenError("token signed by an untrusted key")
            key = found
        return key, algorithms_for(key) & self.algorithms

    def _chain_key(self, x5c: object) -> PublicKey:
        certificates = _parse_chain(x5c)
        leaf, intermediates = certificates[0], certificates[1:]
        if leaf.public_bytes(Encoding.DER) in self._root_der:
            _check_validity(leaf)
        else:
            self._verify_chain(leaf, intermediates)
        key = as_public_key(leaf.public_key())
        if key is None:
            raise TokenError("token certificate has an unusable key")
        return key

    def _verify_chain(self, leaf: x509.Certificate, intermediates: list[x509.Certificate]) -> None:
        if not self.roots:
            raise TokenError("certificate chains need auth.token.rootcertbundle")
        builder = (
            PolicyBuilder()
            .store(Store(self.roots))
            .time(datetime.datetime.now(datetime.UTC))
            .max_chain_depth(MAX_CHAIN)
            .extension_policies(
                ca_policy=ExtensionPolicy.webpki_defaults_ca(),
                ee_policy=ExtensionPolicy.permit_all(),
            )
        )
        try:
            builder.build_client_verifier().verify(leaf, intermediates)
        except VerificationError:
            raise TokenError("token certificate chain is not trusted") from None


def _check_validity(certificate: x509.Certificate) -> None:
    now = datetime.datetime.now(datetime.UTC)
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise TokenError("token certificate is expired or not yet valid")


def _parse_chain(x5c: object) -> list[x509.Certificate]:
    if not isinstance(x5c, list) or not x5c or len(x5c) > MAX_CHAIN:
        raise TokenError("malformed x5c header")
    certificates = []
    for item in x5c:
        if not isinstance(item, str):
            raise TokenError("malformed x5c header")
        try:
            certificates.append(x509.load_der_x509_certificate(base64.b64decode(item)))
        except (ValueError, binascii.Error):
            raise TokenError("malformed x5c header") from None
    return certificates
