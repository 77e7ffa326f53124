"""Settings of the LDAP / Active Directory credential backend, ``dockyard.identity.ldap``
(docs/authentication.md).

An empty ``url`` leaves LDAP off. With it set, a password login that no local user answers is
checked against the directory: dockyard binds as ``binddn`` to find the user with
``userfilter``, binds as that entry with the password, and reads the user's groups with
``groupfilter`` under ``groupsearchbase``. The groups are kept as dockyard groups (source
``ldap``) which ``groupmappings`` and ``admingroups`` turn into project roles and system
administration. :func:`check_ldap` holds the semantic checks (called by ``validate``).
"""

from __future__ import annotations

import os
import re
from typing import NoReturn
from urllib.parse import urlsplit

import msgspec

from dockyard.config.duration import parse_duration
from dockyard.config.errors import ConfigError

KEY = "dockyard.identity.ldap"
SCHEMES = ("ldap", "ldaps")
_PROJECT = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")
_ROLE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


class LdapAttributes(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Which attributes hold what (defaults fit OpenLDAP; AD: ``sAMAccountName``)."""

    username: str = "uid"  # names the dockyard account (the entry's value, whatever case was typed)
    email: str = "mail"
    groupname: str = "cn"  # on group entries: the dockyard group's name


class LdapGroupMapping(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Members of the LDAP ``group`` get ``role`` in ``project`` (a group membership)."""

    group: str
    project: str
    role: str = "developer"


class LdapSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    url: str = ""  # ldap://host[:389] or ldaps://host[:636]; empty: LDAP off
    binddn: str = ""  # the service account that searches; empty: anonymous search
    bindpassword: str = ""
    usersearchbase: str = ""
    userfilter: str = "(uid={username})"  # {username} is escaped (RFC 4515) before use
    groupsearchbase: str = ""  # empty: groups are not read
    groupfilter: str = "(member={dn})"  # {dn}: the user's entry, {username}: the login name
    attributes: LdapAttributes = msgspec.field(default_factory=LdapAttributes)
    starttls: bool = False  # upgrade ldap:// with StartTLS before anything is sent
    cacertificate: str = ""  # PEM bundle to trust (default: the system CAs)
    insecureskipverify: bool = False  # TLS without checking the certificate (tests only)
    timeout: str = "10s"  # connecting and each operation
    groupmappings: list[LdapGroupMapping] = []
    admingroups: list[str] = []  # members are system administrators (removed when they leave)

    @property
    def enabled(self) -> bool:
        return bool(self.url)

    @property
    def timeout_seconds(self) -> float:
        return parse_duration(self.timeout)


def _fail(key: str, message: str) -> NoReturn:
    raise ConfigError(f"{KEY}.{key}: {message}", key=f"{KEY}.{key}")


def check_ldap(ldap: LdapSettings) -> None:
    """Raise a one-line ConfigError for the first problem in ``ldap``."""
    if not ldap.url:
        if ldap.binddn or ldap.usersearchbase or ldap.groupmappings or ldap.admingroups:
            _fail("url", "required when dockyard.identity.ldap is configured")
        return
    _check_url(ldap)
    _check_search(ldap)
    if ldap.binddn and not ldap.bindpassword:
        _fail("bindpassword", "required when binddn is set")
    if ldap.cacertificate and not os.path.isfile(ldap.cacertificate):
        _fail("cacertificate", f"file not found: {ldap.cacertificate}")
    try:
        seconds = parse_duration(ldap.timeout)
    except ConfigError as exc:
        _fail("timeout", exc.message)
    if seconds <= 0:
        _fail("timeout", f'must be above zero, got "{ldap.timeout}"')
    _check_mappings(ldap)


def _check_url(ldap: LdapSettings) -> None:
    parts = urlsplit(ldap.url)
    if parts.scheme not in SCHEMES:
        _fail("url", f'expected ldap://HOST or ldaps://HOST, got "{ldap.url}"')
    try:
        port = parts.port
    except ValueError:
        _fail("url", f'invalid port in "{ldap.url}"')
    if not parts.hostname or (port is not None and not 0 < port < 65536):
        _fail("url", f'expected ldap://HOST[:PORT], got "{ldap.url}"')
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        _fail("url", "only scheme, host and port are allowed (set the bases and filters apart)")
    if ldap.starttls and parts.scheme == "ldaps":
        _fail("starttls", "cannot be combined with an ldaps:// url (already TLS)")


def _check_search(ldap: LdapSettings) -> None:
    if not ldap.usersearchbase:
        _fail("usersearchbase", "required when dockyard.identity.ldap.url is set")
    _check_filter("userfilter", ldap.userfilter, required="username")
    if ldap.groupsearchbase:
        _check_filter("groupfilter", ldap.groupfilter, required="")
    for key in ("username", "email", "groupname"):
        if not getattr(ldap.attributes, key).strip():
            _fail(f"attributes.{key}", "must not be empty")


def _check_filter(key: str, text: str, *, required: str) -> None:
    if not (text.startswith("(") and text.endswith(")")) or text.count("(") != text.count(")"):
        _fail(key, f'expected an LDAP filter in parentheses, got "{text}"')
    names = set(_PLACEHOLDER.findall(text))
    unknown = names - {"username", "dn"}
    if unknown:
        _fail(key, f"unknown placeholder {{{sorted(unknown)[0]}}} (use {{username}} or {{dn}})")
    if required and required not in names:
        _fail(key, f"must contain {{{required}}}")
    if not required and not names:
        _fail(key, "must contain {dn} or {username}")


def _check_mappings(ldap: LdapSettings) -> None:
    for index, mapping in enumerate(ldap.groupmappings):
        key = f"groupmappings[{index}]"
        if not mapping.group.strip():
            _fail(f"{key}.group", "must not be empty")
        if not _PROJECT.match(mapping.project) or len(mapping.project) > 255:
            _fail(f"{key}.project", f'invalid project name "{mapping.project}"')
        if not _ROLE.match(mapping.role):
            _fail(f"{key}.role", f'invalid role name "{mapping.role}"')
    for index, group in enumerate(ldap.admingroups):
        if not group.strip():
            _fail(f"admingroups[{index}]", "must not be empty")
    if (ldap.groupmappings or ldap.admingroups) and not ldap.groupsearchbase:
        _fail("groupsearchbase", "required when groupmappings or admingroups are set")
