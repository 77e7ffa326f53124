"""Composition root, HTTP part: the API options, the authenticator of each surface and the
access log, from the configuration (called by ``bootstrap.create_app`` only)."""

from __future__ import annotations

from dockyard.api.access_log import AccessLog
from dockyard.api.app import ApiOptions, Authenticators
from dockyard.api.authn import Authenticator, BasicAuthenticator, NoAuthentication
from dockyard.api.context import UrlPolicy
from dockyard.api.identity_authn import IdentityAuthenticator, ManagementLogin
from dockyard.api.token_auth import TokenApi
from dockyard.config import Settings
from dockyard.services.registry import Registry
from dockyard.ui.app import UiOptions


def api_options(settings: Settings) -> ApiOptions:
    http = settings.http
    debug = settings.debug_host_port()
    realm = settings.auth.htpasswd.realm if settings.auth.htpasswd else "Registry Realm"
    extra_headers = [
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, values in http.headers.items()
        for value in values
    ]
    return ApiOptions(
        realm=realm,
        extra_headers=tuple(extra_headers),
        urls=UrlPolicy(relative=http.relativeurls, host=http.host),
        debug_addr=debug,
        metrics_path=http.debug.prometheus.path,
        trusted_proxies=tuple(settings.dockyard.trustedproxies),
        body_timeout=settings.dockyard.uploads.body_timeout_seconds,
        run_jobs=settings.dockyard.jobs.runinserve,
        ui=UiOptions(
            enabled=settings.dockyard.ui.enabled,
            token_only=settings.auth.token is not None,
            public_url=settings.http.host,
        ),
    )


def choose_authenticators(
    registry: Registry, tokens: TokenApi | None, realm: str
) -> Authenticators:
    """Who authenticates ``/v2`` (bearer tokens, identity logins, htpasswd, or nobody: the
    first the configuration asks for) and ``/api/v1`` (identity logins, when it is on)."""
    identity = registry.identity
    logins = None
    if identity is not None and identity.enabled:
        logins = IdentityAuthenticator(identity.login, registry.policy, realm)
    management = ManagementLogin(logins, identity) if logins and identity else None
    v2: Authenticator = NoAuthentication()
    if tokens is not None:
        v2 = tokens.bearer
    elif logins is not None:
        v2 = logins
    elif registry.htpasswd is not None:
        v2 = BasicAuthenticator(registry.htpasswd, realm)
    return Authenticators(v2, management)


def build_access_log(settings: Settings) -> AccessLog | None:
    """The access log on stderr, unless ``log.accesslog.disabled`` or ``log.level`` is above
    info (the lines are info lines)."""
    log = settings.log
    if log.accesslog.disabled or log.level in ("warn", "error"):
        return None
    return AccessLog(log.formatter, dict(log.fields))
