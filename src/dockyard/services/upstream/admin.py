"""Managing the cache's upstreams at run time (``/api/v1/mirrors``, ``dockyard mirror``).

System administrators only. An added upstream is stored in the database, so every node
serves it within seconds; configured upstreams (``dockyard.mirror.upstreams``) are listed
too but cannot be removed here. A new upstream may not take a name, a namespace or a prefix
overlapping another's (409). Repositories pushed earlier under a new prefix belong to the
cache from then on (pulls go to the upstream, pushes are refused) until the upstream is
removed. Passwords are stored, never shown. Every change is audited (``mirror.add``,
``mirror.remove``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from dockyard.auth.policy import AccessPolicy
from dockyard.auth.principal import Principal
from dockyard.config.errors import ConfigError
from dockyard.config.mirror import UpstreamSettings
from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.persistence.stores import MirrorUpstreamStore
from dockyard.services.identity.audit import AuditLog
from dockyard.services.upstream.routing import MirrorRouter
from dockyard.services.upstream.specs import (
    CONFIG,
    UpstreamSpec,
    check_together,
    encode_spec,
    settings_error,
    spec_from_settings,
)


@dataclass(frozen=True, slots=True)
class UpstreamView:
    """An upstream as administrators see it (no password)."""

    name: str
    prefix: str
    url: str
    remoteprefix: str
    namespaces: list[str]
    username: str
    password_set: bool
    tagttl_seconds: float
    staleness_seconds: float
    breaker_failures: int
    breaker_cooldown_seconds: float
    source: str  # "config" (the configuration file) or "api" (stored in the database)


def public_view(spec: UpstreamSpec) -> UpstreamView:
    return UpstreamView(
        name=spec.name,
        prefix=spec.prefix,
        url=spec.url,
        remoteprefix=spec.remote_prefix,
        namespaces=list(spec.namespaces),
        username=spec.username,
        password_set=bool(spec.password),
        tagttl_seconds=spec.tag_ttl,
        staleness_seconds=spec.staleness,
        breaker_failures=spec.breaker.failures,
        breaker_cooldown_seconds=spec.breaker.cooldown,
        source=spec.source,
    )


class MirrorAdmin:
    def __init__(
        self,
        router: MirrorRouter,
        store: MirrorUpstreamStore,
        policy: AccessPolicy,
        *,
        audit: AuditLog | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.router = router
        self.store = store
        self.policy = policy
        self.audit = audit
        self.clock = clock

    async def list(self, actor: Principal) -> list[UpstreamView]:
        self.policy.require_admin(actor)
        return [public_view(spec) for spec in await self.router.specs()]

    async def show(self, actor: Principal, name: str) -> UpstreamView:
        self.policy.require_admin(actor)
        return public_view(await self._find(name))

    async def add(self, actor: Principal, settings: UpstreamSettings) -> UpstreamView:
        self.policy.require_admin(actor)
        defaults = self.router.defaults
        try:
            spec = spec_from_settings(
                settings,
                tag_ttl=defaults.tag_ttl,
                staleness=defaults.staleness,
                breaker=defaults.breaker,
                source="api",
            )
        except ConfigError as error:
            raise settings_error(error) from None
        self.router.changed()
        check_together([*await self.router.specs(), spec])
        stored = encode_spec(spec)
        if not await self.store.add_upstream(spec.name, spec.prefix, stored, self.clock()):
            raise RegistryError(ErrorCode.CONFLICT, f'an upstream "{spec.name}" exists already')
        self.router.changed()
        await self._audit(actor, "mirror.add", spec)
        return public_view(spec)

    async def remove(self, actor: Principal, name: str) -> None:
        self.policy.require_admin(actor)
        spec = await self._find(name)
        if spec.source == CONFIG:
            message = f'"{name}" is in the configuration file (dockyard.mirror.upstreams)'
            raise RegistryError(ErrorCode.CONFLICT, message)
        if not await self.store.remove_upstream(name):
            raise _not_found(name)
        self.router.changed()
        await self._audit(actor, "mirror.remove", spec)

    async def _find(self, name: str) -> UpstreamSpec:
        self.router.changed()
        for spec in await self.router.specs():
            if spec.name == name:
                return spec
        raise _not_found(name)

    async def _audit(self, actor: Principal, event: str, spec: UpstreamSpec) -> None:
        if self.audit is not None:
            detail = {"prefix": spec.prefix, "url": spec.url}
            await self.audit.record(actor, event, f"mirror:{spec.name}", detail=detail)


def _not_found(name: str) -> RegistryError:
    return RegistryError(ErrorCode.NOT_FOUND, "no such upstream", detail={"name": name[:80]})
