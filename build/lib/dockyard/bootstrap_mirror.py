"""The composition root's pull-through cache part (called by ``bootstrap.py`` only)."""

from __future__ import annotations

from dockyard.config import Settings
from dockyard.persistence.sql import Database
from dockyard.persistence.sql.mirror_tags import SqlMirrorTags
from dockyard.services.blob_publishing import BlobPublisher
from dockyard.services.outbound.guard import OutboundPolicy
from dockyard.services.registry import Registry
from dockyard.services.telemetry import Telemetry
from dockyard.services.upstream.blob_cache import MirrorBlobs
from dockyard.services.upstream.client import UpstreamClient, UpstreamConfig
from dockyard.services.upstream.mirror import Mirror
from dockyard.services.upstream.proxy import MirrorManifests, MirrorOptions
from dockyard.services.upstream.tags import TagChecks
from dockyard.storage.driver import StorageDriver


def outbound_policy(settings: Settings, *, deny_private: bool) -> OutboundPolicy:
    """The outbound guard's rules: ``dockyard.outbound.allowed`` / ``denied``."""
    outbound = settings.dockyard.outbound
    return OutboundPolicy.from_strings(
        deny_private=deny_private, allowed=outbound.allowed, denied=outbound.denied
    )


def build_mirror(
    settings: Settings,
    registry: Registry,
    storage: StorageDriver,
    database: Database,
    telemetry: Telemetry,
) -> Mirror | None:
    """The cache of ``proxy.remoteurl`` (None when it is not set)."""
    proxy, mirror = settings.proxy, settings.dockyard.mirror
    if not proxy.enabled:
        return None
    upstream = UpstreamClient(
        UpstreamConfig(
            url=proxy.remoteurl.rstrip("/"),
            policy=outbound_policy(settings, deny_private=True),
            username=proxy.username,
            password=proxy.password,
            timeout=mirror.timeout_seconds,
        )
    )
    options = MirrorOptions(tag_ttl=mirror.tag_ttl_seconds, staleness=mirror.staleness_seconds)
    manifests = MirrorManifests(
        upstream,
        metadata=registry.blobs.metadata,
        policy=registry.policy,
        listing=registry.listing,
        telemetry=telemetry,
        options=options,
        tags=TagChecks(SqlMirrorTags(database)),
    )
    publisher = BlobPublisher(storage, registry.blobs.metadata)
    blobs = MirrorBlobs(upstream, registry.blobs, storage, publisher, telemetry)
    return Mirror(upstream, manifests, blobs)
