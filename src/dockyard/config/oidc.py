"""Settings of the OIDC credential backend, ``dockyard.identity.oidc`` (docs/authentication.md).

An empty ``issuer`` leaves OIDC off. With it set, an ID token issued by that provider for
``clientid`` is accepted as a password (HTTP Basic, ``/token``, ``podman login``), and the
groups it carries are kept as dockyard groups (source ``oidc``) which ``groupmappings`` and
``admingroups`` turn into project roles and system administration.
:func:`check_oidc` holds the semantic checks (called by ``validate``).
"""

from __future__ import annotations

import ipaddress
import os
import re
from typing import NoReturn
from urllib.parse import urlsplit

import msgspec

from dockyard.config.duration import parse_duration
from dockyard.config.errors import ConfigError

# Asymmetric JWS algorithms only: "none" and HS* (a public key abused as an HMAC secret) never.
OIDC_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384",
                   "ES512", "EdDSA")  # fmt: skip
DEFAULT_SCOPES = ("openid", "profile", "email", "groups")  # what clients should ask for
LOOPBACK_NAMES = ("localhost",)
KEY = "dockyard.identity.oidc"
_PROJECT = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")


class OidcGroupMapping(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Members of the provider's ``group`` get ``role`` in ``project`` (a group membership)."""

    group: str
    project: str
    role: str = "developer"


class OidcSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    issuer: str = ""  # the provider's issuer URL (``iss``); empty: OIDC off
    clientid: str = ""  # the expected audience (``aud``) of ID tokens
    clientsecret: str = ""  # the web UI's sign-in (code flow): for a confidential client
    usernameclaim: str = ""  # empty: preferred_username, else sub
    groupsclaim: str = "groups"  # empty: groups are not read
    emailclaim: str = "email"
    scopes: list[str] = msgspec.field(default_factory=lambda: list(DEFAULT_SCOPES))
    cacertificate: str = ""  # PEM bundle to trust for the provider's TLS (default: system CAs)
    insecureskipverify: bool = False
    jwksttl: str = "1h"  # provider keys and discovery are fetched again after this
    refreshinterval: str = "30s"  # at most one fetch per interval for unknown kids or failures
    timeout: str = "5s"  # per request to the provider
    algorithms: list[str] = msgspec.field(default_factory=lambda: ["RS256", "ES256"])
    groupmappings: list[OidcGroupMapping] = []
    admingroups: list[str] = []  # members are system administrators (removed when they leave)

    @property
    def enabled(self) -> bool:
        return bool(self.issuer)

    @property
    def jwksttl_seconds(self) -> float:
        return parse_duration(self.jwksttl)

    @property
    def refreshinterval_seconds(self) -> float:
        return parse_duration(self.refreshinterval)

    @property
    def timeout_seconds(self) -> float:
        return parse_duration(self.timeout)


def _fail(key: str, message: str) -> NoReturn:
    raise ConfigError(f"{KEY}.{key}: {message}", key=f"{KEY}.{key}")


def check_oidc(oidc: OidcSettings) -> None:
    """Raise a one-line ConfigError for the first problem in ``oidc``."""
    if not oidc.issuer:
        if oidc.clientid or oidc.groupmappings or oidc.admingroups:
            _fail("issuer", "required when dockyard.identity.oidc is configured")
        return
    _check_issuer(oidc.issuer)
    if not oidc.clientid:
        _fail("clientid", "required when dockyard.identity.oidc.issuer is set")
    for key in ("jwksttl", "refreshinterval", "timeout"):
        _positive(key, getattr(oidc, key))
    _check_algorithms(oidc.algorithms)
    if oidc.cacertificate and not os.path.isfile(oidc.cacertificate):
        _fail("cacertificate", f"file not found: {oidc.cacertificate}")
    _check_groups(oidc)


def _check_issuer(issuer: str) -> None:
    try:
        parts = urlsplit(issuer)
        host = parts.hostname or ""
    except ValueError:
        _fail("issuer", f"not a URL: {issuer[:80]!r}")
    if parts.scheme not in ("https", "http") or not host:
        _fail("issuer", f"expected an https:// URL, got {issuer[:80]!r}")
    if parts.query or parts.fragment:
        _fail("issuer", "must not have a query or fragment")
    if parts.scheme == "http" and not _loopback(host):
        _fail("issuer", "plain http is only allowed for a loopback address; use https")


def _loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _positive(key: str, text: str) -> None:
    try:
        seconds = parse_duration(text)
    except ConfigError as exc:
        _fail(key, exc.message)
    if seconds <= 0:
        _fail(key, f'duration must be above zero, got "{text}"')


def _check_algorithms(algorithms: list[str]) -> None:
    if not algorithms:
        _fail("algorithms", "must name at least one algorithm")
    refused = [alg for alg in algorithms if alg not in OIDC_ALGORITHMS]
    if refused:
        _fail("algorithms", f"not accepted: {', '.join(refused)} "
                            f"(expected some of {', '.join(OIDC_ALGORITHMS)})")  # fmt: skip


def _check_groups(oidc: OidcSettings) -> None:
    for index, mapping in enumerate(oidc.groupmappings):
        key = f"groupmappings[{index}]"
        if not mapping.group.strip():
            _fail(f"{key}.group", "must not be empty")
        if not _PROJECT.fullmatch(mapping.project):
            _fail(f"{key}.project", f"not a project name: {mapping.project[:80]!r}")
        if not mapping.role.strip():
            _fail(f"{key}.role", "must not be empty")
    for index, group in enumerate(oidc.admingroups):
        if not group.strip():
            _fail(f"admingroups[{index}]", "must not be empty")
