"""The composition root's pull-through cache part (called by ``bootstrap.py`` only)."""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.auth.policy import AccessPolicy
from dockyard.config import Settings
from dockyard.config.mirror import exec_settings
from dockyard.persistence.sql import Database
from dockyard.persistence.sql.mirror_tags import SqlMirrorTags
from dockyard.persistence.sql.mirror_upstreams import SqlMirrorUpstreams
from dockyard.services.identity.wiring import IdentityServices
from dockyard.services.outbound.guard import OutboundPolicy
from dockyard.services.registry.blob_publishing import BlobPublisher
from dockyard.services.registry.blobs import BlobService
from dockyard.services.registry.listing import ListingService
from dockyard.services.telemetry import Telemetry
from dockyard.services.upstream.admin import MirrorAdmin
from dockyard.services.upstream.blob_cache import MirrorBlobs
from dockyard.services.upstream.client import UpstreamClient, UpstreamConfig
from dockyard.services.upstream.helper import HelperCredentials
from dockyard.services.upstream.mirror import Mirror
from dockyard.services.upstream.proxy import MirrorManifests, MirrorOptions
from dockyard.services.upstream.routing import MirrorRouter
from dockyard.services.upstream.specs import CONFIG, Breaker, UpstreamSpec, spec_from_settings
from dockyard.services.upstream.tags import TagChecks
from dockyard.storage.driver import StorageDriver


@dataclass(frozen=True, slots=True)
class MirrorInputs:
    """The registry services the cache serves through (built before it)."""

    blobs: BlobService
    listing: ListingService
    policy: AccessPolicy


def outbound_policy(settings: Settings, *, deny_private: bool) -> OutboundPolicy:
    """The outbound guard's rules: ``dockyard.outbound.allowed`` / ``denied``."""
    outbound = settings.dockyard.outbound
    return OutboundPolicy.from_strings(
        deny_private=deny_private, allowed=outbound.allowed, denied=outbound.denied
    )


def _defaults(settings: Settings) -> UpstreamSpec:
    """``dockyard.mirror``'s values, as a spec for what an upstream leaves unset."""
    mirror, proxy = settings.dockyard.mirror, settings.proxy
    return UpstreamSpec(
        name="proxy",
        prefix="",
        url=proxy.remoteurl.rstrip("/"),
        username=proxy.username,
        password=proxy.password,
        tag_ttl=mirror.tag_ttl_seconds,
        staleness=mirror.staleness_seconds,
        breaker=Breaker(mirror.breaker.failures, mirror.breaker.cooldown_seconds),
        source=CONFIG,
    )


def build_mirror_router(settings: Settings, database: Database) -> MirrorRouter:
    """The cache prefixes: configured upstreams and those stored in the database."""
    defaults = _defaults(settings)
    configured = [
        spec_from_settings(
            upstream,
            tag_ttl=defaults.tag_ttl,
            staleness=defaults.staleness,
            breaker=defaults.breaker,
            source=CONFIG,
        )
        for upstream in settings.dockyard.mirror.upstreams
    ]
    return MirrorRouter(configured, SqlMirrorUpstreams(database), defaults)


def attach_mirrors(
    settings: Settings,
    router: MirrorRouter,
    services: MirrorInputs,
    *,
    identity: IdentityServices | None,
    storage: StorageDriver,
    database: Database,
    telemetry: Telemetry,
) -> MirrorAdmin:
    """Give the router (built before the registry's options, which name it) its way of
    building each upstream's cache, once the services the caches serve through are built;
    the admin service of ``/api/v1/mirrors``."""

    def build(spec: UpstreamSpec) -> Mirror:
        return _mirror_of(
            settings, spec, services=services, storage=storage, database=database,
            telemetry=telemetry,
        )  # fmt: skip

    router.factory = build
    audit = identity.audit if identity is not None else None
    return MirrorAdmin(router, SqlMirrorUpstreams(database), services.policy, audit=audit)


def build_mirror(
    settings: Settings,
    services: MirrorInputs,
    storage: StorageDriver,
    database: Database,
    telemetry: Telemetry,
) -> Mirror | None:
    """The cache of ``proxy.remoteurl`` (None when it is not set)."""
    if not settings.proxy.enabled:
        return None
    return _mirror_of(
        settings,
        _defaults(settings),
        services=services,
        storage=storage,
        database=database,
        telemetry=telemetry,
    )


def _mirror_of(
    settings: Settings,
    spec: UpstreamSpec,
    *,
    services: MirrorInputs,
    storage: StorageDriver,
    database: Database,
    telemetry: Telemetry,
) -> Mirror:
    remote = spec.remote_name if spec.prefix else str
    helper = None
    if not spec.prefix and settings.proxy.exec:  # proxy.remoteurl's credential helper
        command, lifetime = exec_settings(settings.proxy.exec)
        helper = HelperCredentials(command, spec.url, lifetime)
    upstream = UpstreamClient(
        UpstreamConfig(
            url=spec.url,
            policy=outbound_policy(settings, deny_private=True),
            username=spec.username,
            password=spec.password,
            timeout=settings.dockyard.mirror.timeout_seconds,
            breaker_failures=spec.breaker.failures,
            breaker_cooldown=spec.breaker.cooldown,
            helper=helper,
        )
    )
    manifests = MirrorManifests(
        upstream,
        metadata=services.blobs.metadata,
        policy=services.policy,
        listing=services.listing,
        telemetry=telemetry,
        options=MirrorOptions(tag_ttl=spec.tag_ttl, staleness=spec.staleness),
        tags=TagChecks(SqlMirrorTags(database)),
        remote=remote,
    )
    publisher = BlobPublisher(storage, services.blobs.metadata)
    blobs = MirrorBlobs(upstream, services.blobs, storage, publisher, telemetry, remote=remote)
    return Mirror(upstream, manifests, blobs)
