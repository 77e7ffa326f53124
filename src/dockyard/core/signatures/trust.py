"""Trusted signers and the checks a signature must pass against one of them.

A signer is either a public key (PEM; ECDSA, RSA or Ed25519), against which the signature
must verify, or a certificate authority (PEM, one or more certificates), to which the
signature's certificate must chain (each link's signature, validity at the time of
verification, CA basic constraints on issuers) and whose leaf must match one of the signer's
identity rules. Identity rules: ``*`` (any), ``subject:<RFC 4514 name>``, ``email:<address>``,
``uri:<uri>`` (subject alternative names), ``dns:<name>``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils

from dockyard.core.signatures.model import Padding, SignatureError, SignedData

PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey
MAX_CHAIN = 8
IDENTITY_KINDS = ("subject", "email", "uri", "dns")

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


def load_public_key(pem: str) -> PublicKey:
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise SignatureError(f"not a PEM public key: {exc}") from None
    if not isinstance(key, PublicKey):
        raise SignatureError("only ECDSA, RSA and Ed25519 keys are supported")
    return key


def load_certificates(pem: str) -> tuple[x509.Certificate, ...]:
    try:
        certificates = tuple(x509.load_pem_x509_certificates(pem.encode()))
    except ValueError as exc:
        raise SignatureError(f"not PEM certificates: {exc}") from None
    if not certificates:
        raise SignatureError("no certificate in the PEM text")
    return certificates


def validate_identity(rule: str) -> str:
    kind, _, value = rule.partition(":")
    if rule != "*" and (kind not in IDENTITY_KINDS or not value):
        raise SignatureError(f'identity rule "{rule}": use *, ' + ", ".join(IDENTITY_KINDS))
    if kind == "subject":
        try:
            x509.Name.from_rfc4514_string(value)
        except ValueError as exc:
            raise SignatureError(f'identity rule "{rule}": {exc}') from None
    return rule


@dataclass(frozen=True, slots=True)
class Signer:
    """A trusted signer of a policy: ``key`` (a public key) or ``ca`` (certificates)."""

    kind: str
    pem: str
    identities: tuple[str, ...] = ()
    name: str = ""
    key: PublicKey | None = field(default=None, compare=False, repr=False)
    roots: tuple[x509.Certificate, ...] = field(default=(), compare=False, repr=False)

    @classmethod
    def parse(cls, kind: str, pem: str, identities: tuple[str, ...] = (), name: str = "") -> Signer:
        """Checked and loaded; SignatureError saying what is wrong."""
        if kind == "key":
            if identities:
                raise SignatureError("identity rules apply to ca signers only")
            return cls(kind, pem, (), name, key=load_public_key(pem))
        if kind == "ca":
            rules = tuple(validate_identity(r) for r in identities) or ("*",)
            return cls(kind, pem, rules, name, roots=load_certificates(pem))
        raise SignatureError(f'signer kind "{kind}": use key or ca')

    def describe(self) -> str:
        return self.name or f"{self.kind} signer"

    def verify(self, signed: SignedData, now: datetime | None = None) -> None:
        """Returns when ``signed`` is this signer's; SignatureError saying why not."""
        if self.key is not None:
            if signed.format.startswith("notation"):
                raise SignatureError("Notation signatures are verified against ca signers only")
            verify_signature(self.key, signed)
            return
        if signed.certificate is None:
            raise SignatureError("signature carries no certificate, and the signer is a CA")
        at = now or datetime.now(UTC)
        check_chain(signed.certificate, signed.chain, self.roots, at)
        if not any(identity_matches(rule, signed.certificate) for rule in self.identities):
            raise SignatureError("certificate identity matches none of the signer's rules")
        verify_signature(certificate_key(signed.certificate), signed)


def certificate_key(certificate: x509.Certificate) -> PublicKey:
    key = certificate.public_key()
    if not isinstance(key, PublicKey):
        raise SignatureError("certificate key type is not supported")
    return key


def verify_signature(key: PublicKey, signed: SignedData) -> None:
    try:
        _verify(key, signed)
    except InvalidSignature:
        raise SignatureError("signature does not verify") from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise SignatureError(f"signature cannot be checked: {exc}") from None


def _verify(key: PublicKey, signed: SignedData) -> None:
    if isinstance(key, ed25519.Ed25519PublicKey):
        if signed.prehashed:
            raise SignatureError("Ed25519 cannot verify a prehashed message")
        key.verify(signed.signature, signed.data)
        return
    chosen = _HASHES.get(signed.hash_name)
    if chosen is None:
        raise SignatureError(f"hash {signed.hash_name} is not supported")
    algorithm: hashes.HashAlgorithm | utils.Prehashed = chosen()
    if signed.prehashed:
        algorithm = utils.Prehashed(chosen())
    if isinstance(key, ec.EllipticCurvePublicKey):
        signature = _der_ecdsa(signed.signature, key) if signed.raw_ecdsa else signed.signature
        key.verify(signature, signed.data, ec.ECDSA(algorithm))
        return
    pad: padding.AsymmetricPadding = padding.PKCS1v15()
    if signed.padding is Padding.PSS:
        pad = padding.PSS(padding.MGF1(chosen()), padding.PSS.DIGEST_LENGTH)
    key.verify(signed.signature, signed.data, pad, algorithm)


def _der_ecdsa(raw: bytes, key: ec.EllipticCurvePublicKey) -> bytes:
    size = (key.curve.key_size + 7) // 8
    if len(raw) != 2 * size:
        raise SignatureError("ECDSA signature has the wrong length")
    r, s = int.from_bytes(raw[:size], "big"), int.from_bytes(raw[size:], "big")
    return utils.encode_dss_signature(r, s)


def check_chain(
    leaf: x509.Certificate,
    intermediates: tuple[x509.Certificate, ...],
    roots: tuple[x509.Certificate, ...],
    at: datetime,
) -> None:
    """The leaf chains through ``intermediates`` to one of ``roots``, every certificate valid
    at ``at``; SignatureError saying which link fails."""
    _require_valid(leaf, at)
    current, pool = leaf, list(intermediates)
    for _ in range(MAX_CHAIN):
        root = next((r for r in roots if _issued_by(current, r)), None)
        if root is not None:
            _require_valid(root, at)
            return
        issuer = next((c for c in pool if _issued_by(current, c) and _is_ca(c)), None)
        if issuer is None:
            raise SignatureError("certificate does not chain to the signer's CA")
        _require_valid(issuer, at)
        pool.remove(issuer)
        current = issuer
    raise SignatureError("certificate chain is too long")


def _issued_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    if certificate.issuer != issuer.subject:
        return False
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    except x509.ExtensionNotFound:
        return False
    return constraints.value.ca


def _require_valid(certificate: x509.Certificate, at: datetime) -> None:
    if at < certificate.not_valid_before_utc:
        raise SignatureError(f"certificate {certificate.subject.rfc4514_string()} not yet valid")
    if at > certificate.not_valid_after_utc:
        raise SignatureError(f"certificate {certificate.subject.rfc4514_string()} has expired")


def identity_matches(rule: str, certificate: x509.Certificate) -> bool:
    if rule == "*":
        return True
    kind, _, value = rule.partition(":")
    if kind == "subject":
        return certificate.subject == x509.Name.from_rfc4514_string(value)
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    if kind == "email":
        return value in names.get_values_for_type(x509.RFC822Name)
    if kind == "uri":
        return value in names.get_values_for_type(x509.UniformResourceIdentifier)
    return value in names.get_values_for_type(x509.DNSName)
