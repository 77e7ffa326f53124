"""Checks beyond types: enums, durations, addresses, file pairs, one-of sections.

Each check raises a one-line :class:`ConfigError` naming the key; the first failure wins.
"""

from __future__ import annotations

import ipaddress
import os
from typing import NoReturn

from dockyard.config.address import parse_host_port
from dockyard.config.duration import parse_duration
from dockyard.config.errors import ConfigError
from dockyard.config.health import storage_health
from dockyard.config.ldap import check_ldap
from dockyard.config.lifecycle_checks import check_lifecycle
from dockyard.config.mirror import check_exec, check_mirror, check_outbound, check_remote_url
from dockyard.config.model import (
    AuthSettings,
    DockyardSettings,
    DockyardTokenSettings,
    HttpSettings,
    Settings,
    StorageSettings,
    TlsSettings,
)
from dockyard.config.notifications import check_notifications
from dockyard.config.oidc import check_oidc
from dockyard.config.redis import check_redis
from dockyard.config.validation import index_completeness
from dockyard.config.webhooks import check_webhooks

LOG_LEVELS = ("error", "warn", "info", "debug")
LOG_FORMATTERS = ("text", "json", "logstash")
NETS = ("tcp", "tcp4", "tcp6", "unix")
TLS_VERSIONS = ("tls1.0", "tls1.1", "tls1.2", "tls1.3")
SERVERS = ("granian", "uvicorn")
DATABASE_SCHEMES = ("sqlite:///", "postgresql://", "postgres://")
MIN_FS_THREADS = 25  # registry:2's floor for storage.filesystem.maxthreads


def validate(settings: Settings) -> None:
    """Raise ConfigError for the first semantic problem in ``settings``."""
    if settings.version != "0.1":
        _fail("version", f'unsupported version "{settings.version}" (expected "0.1")')
    _one_of("log.level", settings.log.level, LOG_LEVELS)
    _one_of("log.formatter", settings.log.formatter, LOG_FORMATTERS)
    _check_http(settings.http)
    _check_auth(settings.auth)
    _check_storage(settings.storage)
    storage_health(settings.health)
    index_completeness(settings.validation.manifests)
    _check_proxy(settings)
    _check_dockyard(settings.dockyard, settings.storage)
    _check_token_issuer(settings)
    _check_identity(settings)
    check_oidc(settings.dockyard.identity.oidc)
    check_ldap(settings.dockyard.identity.ldap)
    check_lifecycle(settings)
    check_webhooks(settings.dockyard.webhooks)
    check_redis(settings.redis)


def _check_proxy(settings: Settings) -> None:
    proxy = settings.proxy
    if proxy.ttl:
        duration("proxy.ttl", proxy.ttl)
    if proxy.remoteurl:
        check_remote_url(proxy.remoteurl)
    if bool(proxy.username) != bool(proxy.password):
        _fail("proxy.username", "proxy.username and proxy.password must be set together")
    if proxy.exec:
        check_exec(proxy.exec, has_password=bool(proxy.password))
    check_mirror(settings.dockyard.mirror)
    check_outbound(settings.dockyard.outbound)
    check_notifications(
        settings.notifications, settings.dockyard.events, settings.dockyard.outbound
    )


def duration(key: str, text: str, *, positive: bool = False) -> float:
    """Parse a duration setting, naming ``key`` in any error."""
    try:
        seconds = parse_duration(text)
    except ConfigError as exc:
        raise ConfigError(f"{key}: {exc.message}", key=key) from None
    if seconds < 0 or (positive and seconds == 0):
        _fail(key, f'duration must be {"above" if positive else "at least"} zero, got "{text}"')
    return seconds


def _fail(key: str, message: str) -> NoReturn:
    raise ConfigError(f"{key}: {message}", key=key)


def _one_of(key: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        _fail(key, f'expected one of {", ".join(allowed)}, got "{value}"')


def _check_http(http: HttpSettings) -> None:
    _one_of("http.net", http.net, NETS)
    if http.net == "unix":
        if not http.addr:
            _fail("http.addr", "a socket path is required when http.net is unix")
    else:
        parse_host_port(http.addr, "http.addr")
    if http.debug.addr:
        parse_host_port(http.debug.addr, "http.debug.addr")
    if not http.debug.prometheus.path.startswith("/"):
        _fail("http.debug.prometheus.path", "must start with /")
    if http.draintimeout:
        duration("http.draintimeout", http.draintimeout)
    _check_tls(http.tls)


def _check_tls(tls: TlsSettings) -> None:
    if bool(tls.certificate) != bool(tls.key):
        missing = "key" if tls.certificate else "certificate"
        _fail(f"http.tls.{missing}", "http.tls.certificate and http.tls.key must be set together")
    for key, path in (("certificate", tls.certificate), ("key", tls.key)):
        if path and not os.path.isfile(path):
            _fail(f"http.tls.{key}", f"file not found: {path}")
    for index, path in enumerate(tls.clientcas):
        if not os.path.isfile(path):
            _fail(f"http.tls.clientcas[{index}]", f"file not found: {path}")
    _one_of("http.tls.minimumtls", tls.minimumtls, TLS_VERSIONS)


def _check_auth(auth: AuthSettings) -> None:
    chosen = [name for name in auth.choices if getattr(auth, name) is not None]
    if len(chosen) > 1:
        _fail("auth", f"more than one auth method configured: {', '.join(chosen)}")
    if auth.htpasswd is not None and not auth.htpasswd.path:
        _fail("auth.htpasswd.path", "required when auth.htpasswd is configured")
    if auth.token is not None:
        for key in ("realm", "service", "issuer"):
            if not getattr(auth.token, key):
                _fail(f"auth.token.{key}", "required when auth.token is configured")
        if not (auth.token.rootcertbundle or auth.token.jwks):
            _fail("auth.token.rootcertbundle", "required when auth.token is configured")
    if auth.silly is not None:
        for key in ("realm", "service"):
            if not getattr(auth.silly, key):
                _fail(f"auth.silly.{key}", "required when auth.silly is configured")


def _check_storage(storage: StorageSettings) -> None:
    driver = storage.driver_name  # raises for more than one driver
    fs = storage.filesystem
    if driver == "filesystem" and fs is not None:
        if not fs.rootdirectory:
            _fail("storage.filesystem.rootdirectory", "must not be empty")
        if fs.maxthreads < MIN_FS_THREADS:
            _fail("storage.filesystem.maxthreads", f"must be at least {MIN_FS_THREADS}")
    if driver == "s3" and storage.s3 is not None and not storage.s3.bucket:
        _fail("storage.s3.bucket", "required when storage.s3 is configured")
    purging = storage.maintenance.uploadpurging
    duration("storage.maintenance.uploadpurging.age", purging.age)
    duration("storage.maintenance.uploadpurging.interval", purging.interval, positive=True)


def _check_dockyard(dockyard: DockyardSettings, storage: StorageSettings) -> None:
    _one_of("dockyard.server", dockyard.server, SERVERS)
    if dockyard.workers < 1:
        _fail("dockyard.workers", f"must be at least 1, got {dockyard.workers}")
    if dockyard.database and not dockyard.database.startswith(DATABASE_SCHEMES):
        _fail("dockyard.database", "expected sqlite:///PATH or postgresql://...")
    if not dockyard.database and storage.driver_name == "s3":
        _fail("dockyard.database", "required with the s3 driver (no local root for SQLite)")
    _check_uploads(dockyard)
    _check_jobs(dockyard)
    for key in ("sessionlifetime", "idletimeout"):
        duration(f"dockyard.ui.{key}", getattr(dockyard.ui, key), positive=True)
    for index, cidr in enumerate(dockyard.trustedproxies):
        try:
            ipaddress.ip_network(str(cidr).strip(), strict=False)
        except ValueError:
            _fail(f"dockyard.trustedproxies[{index}]", f'not an address or network: "{cidr}"')


def _check_uploads(dockyard: DockyardSettings) -> None:
    uploads = dockyard.uploads
    for key, value in (
        ("sessionsperrepository", uploads.sessionsperrepository),
        ("sessionsperclient", uploads.sessionsperclient),
    ):
        if value < 0:
            _fail(f"dockyard.uploads.{key}", f"must be at least 0 (0: no cap), got {value}")
    if uploads.bodytimeout.strip():
        duration("dockyard.uploads.bodytimeout", uploads.bodytimeout)


def _check_jobs(dockyard: DockyardSettings) -> None:
    jobs = dockyard.jobs
    for key in ("concurrency", "maxattempts"):
        if getattr(jobs, key) < 1:
            _fail(f"dockyard.jobs.{key}", f"must be at least 1, got {getattr(jobs, key)}")
    for key in ("poll", "lease"):
        duration(f"dockyard.jobs.{key}", getattr(jobs, key), positive=True)
    for key in ("backoff", "maxbackoff", "keepdone", "stoptimeout"):
        duration(f"dockyard.jobs.{key}", getattr(jobs, key))


TOKEN_ALGORITHMS = ("ES256", "RS256")
MIN_TOKEN_SECONDS = 60  # token.md: never hand out a token with less than 60 s to live


def _check_token_issuer(settings: Settings) -> None:
    token: DockyardTokenSettings = settings.dockyard.token
    if not token.enabled:
        return
    if settings.auth.kind in ("token", "silly"):
        _fail("dockyard.token.enabled", f"cannot be combined with auth.{settings.auth.kind}")
    if duration("dockyard.token.expiry", token.expiry) < MIN_TOKEN_SECONDS:
        _fail("dockyard.token.expiry", "must be at least 60s")
    duration("dockyard.token.refreshexpiry", token.refreshexpiry, positive=True)
    _one_of("dockyard.token.algorithm", token.algorithm, TOKEN_ALGORITHMS)
    for key in ("issuer", "service"):
        if not getattr(token, key):
            _fail(f"dockyard.token.{key}", "must not be empty")
    if not token.keydir and settings.storage.driver_name not in ("filesystem", "inmemory"):
        _fail("dockyard.token.keydir", "required when storage has no local root directory")


def _check_identity(settings: Settings) -> None:
    identity = settings.dockyard.identity
    if identity.auditretention:
        duration("dockyard.identity.auditretention", identity.auditretention)
    if not identity.enabled:
        return
    if settings.auth.kind in ("token", "silly"):
        _fail("dockyard.identity.enabled", f"cannot be combined with auth.{settings.auth.kind}")
    if not 4 <= identity.passwordcost <= 16:
        _fail("dockyard.identity.passwordcost", "must be between 4 and 16")
    for key in ("loginattempts", "clientattempts"):
        if getattr(identity, key) < 1:
            _fail(f"dockyard.identity.{key}", "must be at least 1")
    duration("dockyard.identity.loginwindow", identity.loginwindow, positive=True)
