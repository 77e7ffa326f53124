"""The composition root's pull-through cache part (called by ``bootstrap.py`` only)."""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.auth.policy import AccessPolicy
from dockyard.config import Settings
from dockyard.persistence.sql import Database
from dockyard.persistence.sql.mirror_tags import SqlMirrorTags
from dockyard.services.blob_publishing import BlobPublisher
from dockyard.services.blobs import BlobService
from dockyard.services.listing import ListingService
from dockyard.services.outbound.guard import OutboundPolicy
from dockyard.services.telemetry import Telemetry
from dockyard.services.upstream.blob_cache import MirrorBlobs
from dockyard.services.upstream.client import UpstreamClient, UpstreamConfig
from dockyard.services.upstream.mirror import Mirror
from dockyard.services.upstream.proxy import MirrorManifests, MirrorOptions
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


def build_mirror(
    settings: Settings,
    services: MirrorInputs,
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
        metadata=services.blobs.metadata,
        policy=services.policy,
        listing=services.listing,
        telemetry=telemetry,
        options=options,
        tags=TagChecks(SqlMirrorTags(database)),
    )
    publisher = BlobPublisher(storage, services.blobs.metadata)
    blobs = MirrorBlobs(upstream, services.blobs, storage, publisher, telemetry)
    return Mirror(upstream, manifests, blobs)
