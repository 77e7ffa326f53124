"""Composition root, registry parts: the options, the access policy and the services that
``bootstrap.build_registry`` builds before it constructs the frozen ``Registry``.

Called by ``bootstrap.py`` only, like the other ``bootstrap_*`` modules.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable

from dockyard.auth.htpasswd import HtpasswdFile
from dockyard.auth.policy import AccessPolicy, Action
from dockyard.config import Settings, parse_duration
from dockyard.config.validation import index_completeness
from dockyard.persistence.sql import Database, SqlMetadata
from dockyard.persistence.sql.supplychain import SqlSupplyChain
from dockyard.services.identity.denials import DeniedAccess
from dockyard.services.identity.wiring import IdentityServices
from dockyard.services.lifecycle import Lifecycle
from dockyard.services.lifecycle.maintenance import UploadPurger
from dockyard.services.registry import RegistryOptions
from dockyard.services.registry.listing import ListingService
from dockyard.services.registry.manifests import ManifestService
from dockyard.services.registry.uploads import UploadService
from dockyard.services.supplychain.indexer import LayerIndexer
from dockyard.services.supplychain.inventory import InventoryBuilder
from dockyard.services.supplychain.sboms import SupplyChainService
from dockyard.services.upstream.routing import MirrorRouter
from dockyard.storage.driver import StorageDriver


def registry_options(
    settings: Settings, lifecycle: Lifecycle, caches: MirrorRouter | None = None
) -> RegistryOptions:
    maintenance = settings.storage.maintenance
    return RegistryOptions(
        delete_enabled=settings.storage.delete.enabled,
        read_only=maintenance.readonly.enabled,
        runtime=lifecycle.gate,
        index_completeness=index_completeness(settings.validation.manifests),
        sessions_per_repository=settings.dockyard.uploads.sessionsperrepository,
        sessions_per_client=settings.dockyard.uploads.sessionsperclient,
        pull_through=settings.proxy.enabled,
        caches=caches,
    )


def build_htpasswd(settings: Settings) -> HtpasswdFile | None:
    if settings.auth.htpasswd is None:
        return None
    return HtpasswdFile(os.path.abspath(settings.auth.htpasswd.path))


def access_policy(
    settings: Settings, htpasswd: HtpasswdFile | None, denials: DeniedAccess | None
) -> AccessPolicy:
    own_tokens = settings.dockyard.token
    identity_on = settings.dockyard.identity.enabled
    return AccessPolicy(
        authentication_required=htpasswd is not None or identity_on,
        identity=identity_on,
        token_only=settings.auth.token is not None,
        anonymous_actions=frozenset({Action.PULL})
        if own_tokens.enabled and own_tokens.anonymouspull
        else frozenset(),
        denials=denials,
    )


def upload_purger(
    settings: Settings, storage: StorageDriver, metadata: SqlMetadata, lifecycle: Lifecycle
) -> UploadPurger:
    maintenance = settings.storage.maintenance
    purging = maintenance.uploadpurging
    return UploadPurger(
        storage,
        metadata,
        enabled=purging.enabled and not maintenance.readonly.enabled,
        age_seconds=parse_duration(purging.age),
        interval_seconds=parse_duration(purging.interval),
        dry_run=purging.dryrun,
        is_read_only=lifecycle.gate.read_only,
    )


def closing(
    first: Callable[[], Awaitable[None]], then: Callable[[], Awaitable[None]]
) -> Callable[[], Awaitable[None]]:
    async def shutdown() -> None:
        try:
            await first()
        finally:
            await then()

    return shutdown


def build_supply_chain(
    policy: AccessPolicy,
    storage: StorageDriver,
    database: Database,
    *,
    uploads: UploadService,
    manifests: ManifestService,
    listing: ListingService,
    identity: IdentityServices | None,
) -> SupplyChainService:
    """Layer indexing and SBOMs, pushing through the registry's own services."""
    store = SqlSupplyChain(database)
    builder = InventoryBuilder(SqlMetadata(database), LayerIndexer(storage, store))
    return SupplyChainService(
        policy,
        builder,
        store,
        uploads=uploads,
        manifests=manifests,
        listing=listing,
        audit=identity.audit if identity is not None else None,
    )
