"""LDAP / Active Directory as a credential backend (``dockyard.identity.ldap``).

One login: open a connection (``ldaps://``, or ``ldap://`` upgraded by StartTLS when asked),
bind as the service account, search ``usersearchbase`` with ``userfilter`` (the login name
escaped, :mod:`auth.ldap_filter`), then bind as the entry found with the password on a second
connection, and on success read the entry's groups with the service account. Passwords go on
the simple bind exactly as typed (UTF-8 bytes, never SASLprep'd). An empty password
is refused before anything is sent: a simple bind with a DN and no password is an
"unauthenticated bind" that many servers answer with success. So is a login name outside
dockyard's user name grammar (it could never be a dockyard user).

Which entry a name means is the directory's call (its matching rules: ``uid`` and AD's
``sAMAccountName`` ignore case), and the dockyard account is named by the entry's own value of
``attributes.username``, not by what was typed: ``Alice`` and ``alice`` are one entry, so one
dockyard user ``alice`` (one directory entry, one dockyard user). An entry whose name dockyard
cannot hold is refused.

An unknown name still costs a bind (as a DN that does not exist), so unknown users and wrong
passwords take the same round trips and give the same answer (None). A directory that cannot be
reached, refuses the service account or fails TLS gives ``RegistryError(UNAVAILABLE)`` (503),
with the cause in the log and never the password.

``ldap3`` is blocking; every login runs on a small thread pool of its own, which also bounds
how many connections dockyard opens to the directory at once.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import ssl
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ldap3 import ANONYMOUS, NONE, SIMPLE, SUBTREE, Connection, Server, Tls
from ldap3.core.exceptions import LDAPException

from dockyard.auth.identity import ExternalIdentity
from dockyard.auth.ldap_filter import build_filter
from dockyard.config.ldap import LdapSettings
from dockyard.core.errors import ErrorCode, RegistryError

log = logging.getLogger("dockyard.auth")
# dockyard's user and group name grammar (as services.identity.users): a login name outside it
# is refused without asking the directory; group names outside it are left out.
USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
GROUP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._@-]{0,127}$")
MAX_GROUPS = 1000
WORKERS = 4
BUSY_RESULTS = frozenset({3, 51, 52})  # timeLimitExceeded, busy, unavailable
UNAVAILABLE = "the LDAP directory is unavailable; retry later"
RETRY = {"Retry-After": "5"}


class LdapUnavailableError(Exception):
    """The directory could not answer (the message is for the log, not the client)."""


@dataclass(frozen=True, slots=True)
class _UserEntry:
    dn: str
    username: str
    email: str


def _first(value: Any) -> str:
    """The first value of an attribute as ldap3 returns it (a list, or one value)."""
    if isinstance(value, list | tuple):
        value = value[0] if value else ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)


def _own_name(value: Any, typed: str) -> str:
    """The entry's own spelling of the login name: of its values of the name attribute, the
    one equal to ``typed`` but for case, else the first (the filter matched on another one)."""
    values = [_first(v) for v in value] if isinstance(value, list | tuple) else [_first(value)]
    folded = typed.casefold()
    return next((v for v in values if v.casefold() == folded), values[0] if values else "")


def _as_typed(password: str) -> bytes:
    """The password as typed, in UTF-8, for the simple bind; empty when it cannot be encoded.

    Deliberately not SASLprep (RFC 4013), which ldap3 applies to a ``str``: servers compare
    the stored bytes (slapd does), so mapping or refusing characters refuses real passwords
    (a tab, ``²``, a decomposed accent), accepts look-alikes (a soft hyphen, a fullwidth
    letter) and turns a wrong password with a control character into a client-side error.
    """
    try:
        return password.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: no directory could hold it
        return b""


def _close(conn: Connection) -> None:
    """Unbind and close; a connection that already broke has nothing left to say."""
    with suppress(LDAPException, OSError):
        conn.unbind()


class LdapBackend:
    name = "ldap"

    def __init__(self, settings: LdapSettings, *, workers: int = WORKERS) -> None:
        self.settings = settings
        parts = urlsplit(settings.url)
        self.host = parts.hostname or ""
        self.secure = parts.scheme == "ldaps"
        self.port = parts.port or (636 if self.secure else 389)
        self.timeout = settings.timeout_seconds
        self.receive_timeout = max(1, math.ceil(self.timeout))  # ldap3 wants whole seconds
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dockyard-ldap")

    async def authenticate(self, username: str, password: str) -> ExternalIdentity | None:
        secret = _as_typed(password)
        if not secret or not USER_NAME.fullmatch(username):
            return None  # never an unauthenticated bind; says nothing about who exists
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool, self._authenticate, username, secret)
        except (LdapUnavailableError, LDAPException, OSError) as exc:
            log.warning("ldap: %s: %s", type(exc).__name__, exc)
            raise RegistryError(ErrorCode.UNAVAILABLE, UNAVAILABLE, headers=dict(RETRY)) from None

    # blocking part (worker thread) ---------------------------------------------------------

    def _authenticate(self, username: str, password: bytes) -> ExternalIdentity | None:
        service_password = _as_typed(self.settings.bindpassword)
        with self._connection(self.settings.binddn, service_password) as service:
            entry = self._find_user(service, username)
            if entry is None:
                self._bind_ok(f"cn=dockyard-no-such-user,{self.settings.usersearchbase}", password)
                return None
            if not self._bind_ok(entry.dn, password):
                return None
            if not USER_NAME.fullmatch(entry.username):
                log.warning("ldap: %r is %r in the directory, which cannot be a dockyard user "
                            "name; refusing the login", username, entry.username)  # fmt: skip
                return None
            groups = self._groups(service, entry)
        return ExternalIdentity(entry.username, self.name, groups, entry.email)

    def _server(self) -> Server:
        tls = None
        if self.secure or self.settings.starttls:
            verify = ssl.CERT_NONE if self.settings.insecureskipverify else ssl.CERT_REQUIRED
            tls = Tls(validate=verify, ca_certs_file=self.settings.cacertificate or None,
                      valid_names=[self.host])  # fmt: skip
        return Server(self.host, port=self.port, use_ssl=self.secure, tls=tls,
                      connect_timeout=self.timeout, get_info=NONE)  # fmt: skip

    @contextmanager
    def _connection(self, dn: str, password: bytes) -> Iterator[Connection]:
        """An open connection bound as ``dn`` (the service account; anonymous when empty)."""
        conn = self._open(dn, password)
        try:
            if not conn.bind():
                raise LdapUnavailableError(
                    f"bind as {dn or 'anonymous'} refused: {conn.result.get('description')}"
                )
            yield conn
        finally:
            _close(conn)

    def _open(self, dn: str, password: bytes) -> Connection:
        # bytes: ldap3 sends them as they are; a str would go through SASLprep first
        conn = Connection(
            self._server(), user=dn or None, password=password or None,  # type: ignore[arg-type]
            authentication=SIMPLE if dn else ANONYMOUS, read_only=True, raise_exceptions=False,
            receive_timeout=self.receive_timeout, auto_referrals=False,
        )  # fmt: skip
        try:
            conn.open()
            if self.settings.starttls and not conn.start_tls():
                raise LdapUnavailableError("StartTLS refused")
        except BaseException:
            _close(conn)
            raise
        return conn

    def _bind_ok(self, dn: str, password: bytes) -> bool:
        """Whether ``dn`` binds with ``password`` (a fresh connection each time)."""
        conn = self._open(dn, password)
        try:
            if conn.bind():
                return True
            if conn.result.get("result") in BUSY_RESULTS:
                raise LdapUnavailableError(f"bind: {conn.result.get('description')}")
            return False
        finally:
            _close(conn)

    def _search(self, conn: Connection, base: str, query: str, attributes: list[str],
                limit: int) -> list[dict[str, Any]]:  # fmt: skip
        conn.search(base, query, SUBTREE, attributes=attributes, size_limit=limit)
        code = conn.result.get("result")
        if code in BUSY_RESULTS:
            raise LdapUnavailableError(f"search: {conn.result.get('description')}")
        if code not in (0, 4):  # success, sizeLimitExceeded
            log.warning("ldap: search under %r failed: %s", base, conn.result.get("description"))
        return [r for r in conn.response or [] if r.get("type") == "searchResEntry"]

    def _find_user(self, conn: Connection, username: str) -> _UserEntry | None:
        names = self.settings.attributes
        query = build_filter(self.settings.userfilter, {"username": username, "dn": ""})
        found = self._search(conn, self.settings.usersearchbase, query,
                             [names.username, names.email], 2)  # fmt: skip
        if len(found) != 1:
            if found:
                log.warning("ldap: %d entries match %r; refusing the login", len(found), username)
            return None
        attributes = found[0].get("attributes", {})
        canonical = _own_name(attributes.get(names.username), username)
        return _UserEntry(str(found[0]["dn"]), canonical, _first(attributes.get(names.email)))

    def _groups(self, conn: Connection, entry: _UserEntry) -> tuple[str, ...]:
        if not self.settings.groupsearchbase:
            return ()
        attribute = self.settings.attributes.groupname
        query = build_filter(self.settings.groupfilter,
                             {"username": entry.username, "dn": entry.dn})  # fmt: skip
        found = self._search(conn, self.settings.groupsearchbase, query, [attribute], MAX_GROUPS)
        names = {_first(r.get("attributes", {}).get(attribute)).strip() for r in found}
        kept = tuple(sorted(name for name in names if GROUP_NAME.fullmatch(name)))
        if len(kept) != len(names):
            log.info("ldap: left out %d group names dockyard cannot hold", len(names) - len(kept))
        return kept
