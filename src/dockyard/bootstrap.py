"""Composition root: Settings -> storage driver, database, services, ASGI app.

The only module that names concrete drivers and stores.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import TYPE_CHECKING

from dockyard.api.app import RegistryApp
from dockyard.api.observability import Metrics
from dockyard.api.token import consumer_token_api, issuer_token_api
from dockyard.api.token_auth import TokenApi
from dockyard.auth.htpasswd import HtpasswdFile
from dockyard.auth.identity import IdentityProvider
from dockyard.auth.policy import AccessPolicy
from dockyard.auth.token_keys import KeyRing
from dockyard.auth.token_trust import TrustError, TrustStore
from dockyard.bootstrap_events import build_delivery, delivery_history
from dockyard.bootstrap_extras import require_extra
from dockyard.bootstrap_http import api_options, build_access_log, choose_authenticators
from dockyard.bootstrap_identity import build_identity_services, refusal_audit
from dockyard.bootstrap_jobs import BackgroundInputs, build_job_queue, build_runner
from dockyard.bootstrap_lifecycle import build_lifecycle
from dockyard.bootstrap_mirror import (
    MirrorInputs,
    attach_mirrors,
    build_mirror,
    build_mirror_router,
)
from dockyard.bootstrap_parts import (
    access_policy,
    build_htpasswd,
    build_supply_chain,
    closing,
    registry_options,
    upload_purger,
)
from dockyard.bootstrap_replication import build_replication
from dockyard.bootstrap_settings import build_system_settings
from dockyard.bootstrap_trust import build_trust
from dockyard.bootstrap_vulns import build_vulns
from dockyard.bootstrap_webhooks import build_webhooks
from dockyard.cache.base import (
    KeyValueCache,
    LocalLocks,
    LockManager,
    MemoryCache,
    NullCache,
    SharedWindows,
)
from dockyard.cli.logsetup import configure_logging
from dockyard.config import Settings
from dockyard.config.health import storage_health
from dockyard.persistence.sql import Database, SqlGarbageStore, SqlMetadata, SqlOutbox
from dockyard.persistence.sql.browse import SqlBrowse
from dockyard.persistence.sql.catalog import SqlRepositoryCatalog
from dockyard.persistence.sql.migrations import Plan
from dockyard.persistence.sql.ui_sessions import SqlUiSessions
from dockyard.persistence.sqlite import SqliteDatabase
from dockyard.services.browse.service import BrowseService
from dockyard.services.events import EventReader
from dockyard.services.importing.importer import DistributionImporter
from dockyard.services.lifecycle.gc import GarbageCollector
from dockyard.services.registry import Registry
from dockyard.services.registry.blobs import BlobService
from dockyard.services.registry.catalog import VisibleCatalog
from dockyard.services.registry.descriptors import BlobDescriptorCache
from dockyard.services.registry.listing import ListingService
from dockyard.services.registry.manifests import ManifestService
from dockyard.services.registry.uploads import UploadService
from dockyard.services.replication.local import LocalServices
from dockyard.services.system.health import HealthMonitor, build_monitor
from dockyard.services.telemetry import NO_TELEMETRY
from dockyard.services.web_sessions import WebSessions
from dockyard.storage.driver import StorageDriver
from dockyard.storage.drivers.filesystem import FilesystemDriver
from dockyard.storage.drivers.memory import MemoryDriver
from dockyard.storage.instrumented import InstrumentedDriver
from dockyard.storage.readonly import ReadOnlyDriver
from dockyard.supervision import (
    drain_seconds,
    expected_parent,
    stop_app_when_drain_is_over,
    watch_parent,
)

if TYPE_CHECKING:  # redis-py loads only when Redis is configured
    from dockyard.auth.oidc_flow import OidcCodeFlow
    from dockyard.cache.redis import RedisOptions

SQLITE_PREFIX = "sqlite:///"
POSTGRES_PREFIXES = ("postgresql://", "postgres://")
log = logging.getLogger("dockyard.bootstrap")


def build_storage(settings: Settings) -> StorageDriver:
    driver = settings.storage.driver_name
    if driver == "filesystem":
        return FilesystemDriver(
            settings.storage_root(), direct_writes=settings.dockyard.directwrites
        )
    if driver == "inmemory":
        return MemoryDriver()
    if driver == "s3" and settings.storage.s3 is not None:
        require_extra("s3", "storage.s3")
        from dockyard.storage.drivers.s3 import S3Driver  # botocore loads slowly

        redirect = not settings.storage.redirect.disable
        return S3Driver.from_settings(settings.storage.s3, redirect=redirect)
    raise SystemExit(f"config: storage.{driver}: driver not available yet in this build")


def build_import_source(settings: Settings, root: str) -> StorageDriver | None:
    """What ``dockyard import`` reads the registry:2 ``root`` through: None when it is
    dockyard's own filesystem root (blobs used in place), else a read-only view of it (blobs
    are copied into dockyard's storage)."""
    own = settings.storage.filesystem if settings.storage.driver_name == "filesystem" else None
    if own is not None and os.path.realpath(own.rootdirectory) == os.path.realpath(root):
        return None
    return ReadOnlyDriver(FilesystemDriver(root))


def build_database(settings: Settings, *, migrate: bool = True) -> Database:
    """SQLite (opened and, unless told, migrated now) or PostgreSQL (connects later)."""
    url = settings.database_url()
    if url.startswith(SQLITE_PREFIX):
        return SqliteDatabase(url[len(SQLITE_PREFIX) :], migrate=migrate)
    if not url.startswith(POSTGRES_PREFIXES):
        raise SystemExit("config: dockyard.database: unsupported database URL")
    require_extra("postgres", "dockyard.database (PostgreSQL)")
    from dockyard.persistence.postgres.database import PostgresDatabase  # psycopg loads slowly

    try:
        return PostgresDatabase(url)
    except ValueError as exc:
        raise SystemExit(f"config: {exc}") from None


def migrate_database(settings: Settings, target: int | None = None) -> int:
    """Move the schema to ``target`` (default: apply every pending migration), as ``dockyard
    migrate`` does; return the schema version. MigrationError when that cannot be done."""
    database = build_database(settings, migrate=False)

    async def migrate() -> int:
        try:
            if target is None:
                return await database.migrate()
            return await database.migrate_to(target)
        finally:
            await database.aclose()

    return asyncio.run(migrate())


def migration_plan(settings: Settings, target: int | None = None) -> Plan:
    """What ``dockyard migrate [--to target]`` would run, running nothing."""
    database = build_database(settings, migrate=False)

    async def planned() -> Plan:
        try:
            return await database.migration_plan(target)
        finally:
            await database.aclose()

    return asyncio.run(planned())


def _refuse_unsupported(settings: Settings) -> None:
    """Never start with weaker security than the configuration asked for."""
    kind = settings.auth.kind
    if kind == "silly":
        raise SystemExit(
            f"config: auth.{kind}: not supported yet; use auth.htpasswd (refusing to start "
            "without the authentication the configuration asks for)"
        )
    if settings.http.prefix not in ("", "/"):
        raise SystemExit("config: http.prefix: serving under a path prefix is not supported yet")


def redis_options(settings: Settings) -> RedisOptions:
    """The typed ``redis`` section (``config/redis.py``) as the Redis client's options."""
    require_extra("redis", "redis")
    from dockyard.cache.redis import RedisOptions

    raw = settings.redis
    return RedisOptions(
        addr=raw.address, password=raw.password, db=raw.db, username=raw.username,
        timeout_seconds=raw.command_timeout_seconds,
        connect_timeout_seconds=raw.connect_timeout_seconds,
        max_connections=raw.max_connections, tls=raw.uses_tls,
        tls_ca_files=tuple(raw.tls.clientcas), tls_certificate=raw.tls.certificate,
        tls_key=raw.tls.key,
    )  # fmt: skip


def build_shared_state(settings: Settings) -> tuple[KeyValueCache, LockManager]:
    """The blob descriptor cache and the lock manager (``storage.cache``, ``redis``)."""
    kind = str(settings.storage.cache.get("blobdescriptor") or "")
    if kind == "redis":
        require_extra("redis", "storage.cache.blobdescriptor: redis")
        from dockyard.cache.redis import RedisCache, RedisLocks, connect

        client = connect(redis_options(settings))
        return RedisCache(client), RedisLocks(client)
    if kind == "inmemory" and settings.dockyard.workers == 1:
        return MemoryCache(), LocalLocks()
    if kind == "inmemory":
        log.warning("storage.cache.blobdescriptor: inmemory is per process; off with workers > 1")
    return NullCache(), LocalLocks()


def shared_windows(settings: Settings) -> SharedWindows | None:
    """Failed-login counts shared by every node, in Redis when ``redis.addr`` is set."""
    if not settings.redis.configured:
        return None
    require_extra("redis", "redis.addr")
    from dockyard.cache.redis import connect
    from dockyard.cache.windows import RedisWindows

    return RedisWindows(connect(redis_options(settings)))


def build_registry(settings: Settings, metrics: Metrics | None = None) -> Registry:
    """Every part built first, then one frozen :class:`Registry` (nothing assigned later)."""
    _refuse_unsupported(settings)
    telemetry = metrics or NO_TELEMETRY
    storage = build_storage(settings)
    if metrics is not None:
        storage = InstrumentedDriver(storage, metrics.storage_action)
    database = build_database(settings)
    metadata = SqlMetadata(database)
    cache, locks = build_shared_state(settings)
    lifecycle = build_lifecycle(settings, database, storage, BlobDescriptorCache(cache), metrics)
    caches = build_mirror_router(settings, database)  # its caches are made on first use
    options = registry_options(settings, lifecycle, caches)
    htpasswd = build_htpasswd(settings)
    audit_buffer, denials = refusal_audit(settings, database)
    policy = access_policy(settings, htpasswd, denials)
    build_token_api(settings, policy, htpasswd)  # fail before serving; makes the first key
    identity = build_identity_services(
        settings, database, policy, htpasswd,
        shared=shared_windows(settings), telemetry=telemetry, buffer=audit_buffer,
    )  # fmt: skip
    deliveries = delivery_history(settings, database)
    webhooks = build_webhooks(settings, database, policy, identity, deliveries)
    delivery = build_delivery(settings, database, telemetry, (webhooks.source,))
    blobs = BlobService(
        storage, metadata, policy, options,
        descriptors=BlobDescriptorCache(cache), immutability=lifecycle.immutability,
    )  # fmt: skip
    uploads = UploadService(
        storage, metadata, policy, options, locks=locks, quotas=lifecycle.quotas
    )
    trust, gate = build_trust(settings, policy, identity, storage, database)  # the pull gate
    manifests = ManifestService(
        metadata, policy, options,
        immutability=lifecycle.immutability, pulls=lifecycle.pulls, quotas=lifecycle.quotas,
        gate=gate,
    )  # fmt: skip
    listing = ListingService(metadata, policy, SqlRepositoryCatalog(database))
    served = MirrorInputs(blobs, listing, policy)
    mirror = build_mirror(settings, served, storage, database, telemetry)
    mirror_admin = attach_mirrors(
        settings, caches, served,
        identity=identity, storage=storage, database=database, telemetry=telemetry,
    )  # fmt: skip
    supply_chain = build_supply_chain(
        policy, storage, database,
        uploads=uploads, manifests=manifests, listing=listing, identity=identity,
    )  # fmt: skip
    purger = upload_purger(settings, storage, metadata, lifecycle)
    gc = GarbageCollector(
        storage, SqlGarbageStore(database), BlobDescriptorCache(cache),
        grace_seconds=settings.dockyard.gc.grace_seconds, telemetry=telemetry,
        deletions=lifecycle.retention.deletions, events=lifecycle.retention.events,
    )  # fmt: skip
    jobs = build_job_queue(settings, database)
    health = health_monitor(settings, storage, metadata)
    local = LocalServices(policy, blobs, manifests, listing)
    replication = build_replication(settings, jobs, local, storage, database)
    vulns = build_vulns(policy, storage, database)
    parts = BackgroundInputs(
        jobs, lifecycle, gc, purger, identity, htpasswd, health, delivery, supply_chain,
        mirror=mirror, mirrors=caches, replication=replication, vulns=vulns,
    )  # fmt: skip
    background = build_runner(settings, parts, database, metrics)
    shutdown = closing(caches.aclose, database.aclose)
    if mirror is not None:
        shutdown = closing(mirror.aclose, shutdown)
    return Registry(
        options=options,
        policy=policy,
        blobs=blobs,
        uploads=uploads,
        manifests=manifests,
        listing=listing,
        purger=purger,
        importer=DistributionImporter(storage, metadata),
        gc=gc,
        lifecycle=lifecycle,
        htpasswd=htpasswd,
        identity=identity,
        system=build_system_settings(settings, identity, lifecycle, policy),
        close=database.close,
        startup=database.open,
        shutdown=shutdown,
        jobs=jobs,
        background=background,
        health=health,
        events=EventReader(SqlOutbox(database)),
        webhooks=webhooks,
        mirror=mirror,
        mirrors=caches,
        mirror_admin=mirror_admin,
        delivery=delivery,
        deliveries=deliveries,
        supply_chain=supply_chain,
        trust=trust,
        browse=build_browse(policy, blobs, metadata, database),
        web_sessions=web_sessions(settings, database),
        oidc_flow=build_oidc_flow(settings),
        replication=replication,
        vulns=vulns,
    )


def build_browse(
    policy: AccessPolicy, blobs: BlobService, metadata: SqlMetadata, database: Database
) -> BrowseService:
    """Tags with sizes and artifact details (the web UI, ``/api/v1``)."""
    catalog = VisibleCatalog(metadata, SqlRepositoryCatalog(database))
    return BrowseService(metadata, SqlBrowse(database), policy, blobs, catalog)


def web_sessions(settings: Settings, database: Database) -> WebSessions:
    """The web UI's sessions (docs/ui.md)."""
    ui = settings.dockyard.ui
    return WebSessions(SqlUiSessions(database), lifetime=ui.lifetime_seconds, idle=ui.idle_seconds)


def build_oidc_flow(settings: Settings) -> OidcCodeFlow | None:
    """The web UI's OIDC sign-in, when identity management trusts an OpenID provider."""
    identity = settings.dockyard.identity
    if not (identity.enabled and identity.oidc.enabled):
        return None
    from dockyard.auth.oidc import ClaimMapping
    from dockyard.auth.oidc_flow import OidcCodeFlow
    from dockyard.auth.oidc_keys import tls_verify

    oidc = identity.oidc
    claims = ClaimMapping(oidc.usernameclaim, oidc.groupsclaim, oidc.emailclaim)
    return OidcCodeFlow(
        oidc.issuer, oidc.clientid, client_secret=oidc.clientsecret, scopes=oidc.scopes,
        claims=claims, verify=tls_verify(oidc.cacertificate, oidc.insecureskipverify),
        timeout=oidc.timeout_seconds,
    )  # fmt: skip


def health_monitor(
    settings: Settings, storage: StorageDriver, metadata: SqlMetadata
) -> HealthMonitor | None:
    """``health.storagedriver``: probes of the storage and the database for /debug/health."""
    return build_monitor(storage_health(settings.health), storage, metadata)


def build_token_api(
    settings: Settings,
    policy: AccessPolicy,
    htpasswd: HtpasswdFile | None,
    identity: IdentityProvider | None = None,
) -> TokenApi | None:
    """Bearer tokens from an external issuer (``auth.token``) or issued by dockyard itself
    (``dockyard.token``); None keeps HTTP Basic (or no authentication)."""
    external, own = settings.auth.token, settings.dockyard.token
    try:
        if external is not None:
            trust = TrustStore.load(
                external.rootcertbundle, external.jwks, external.signingalgorithms
            )
            return consumer_token_api(external, trust, policy)
        if own.enabled:
            ring = KeyRing(settings.token_key_dir(), own.algorithm)
            ring.ensure()
            realm = settings.auth.htpasswd.realm if settings.auth.htpasswd else "Registry Realm"
            return issuer_token_api(
                own,
                ring,
                policy,
                htpasswd,
                basic_realm=realm,
                public_host=settings.http.host,
                identity=identity,
            )
    except (TrustError, OSError, ValueError) as exc:
        raise SystemExit(f"config: {exc}") from None
    return None


def create_app(settings: Settings) -> RegistryApp:
    """The ASGI application for ``settings``."""
    metrics = Metrics()
    registry = build_registry(settings, metrics)
    identity = registry.identity.login if registry.identity and registry.identity.enabled else None
    tokens = build_token_api(settings, registry.policy, registry.htpasswd, identity)
    options = api_options(settings)
    authenticators = choose_authenticators(registry, tokens, options.realm)
    access_log = build_access_log(settings)
    return RegistryApp(
        registry, options, authenticators, metrics=metrics, tokens=tokens, access_log=access_log
    )


SETTINGS_ENV = "DOCKYARD_RESOLVED_SETTINGS"


def app_from_environment() -> RegistryApp:
    """Factory for server worker processes: settings arrive resolved, as JSON, from the parent."""
    raw = os.environ.get(SETTINGS_ENV)
    if raw is None:
        raise RuntimeError(f"{SETTINGS_ENV} is not set; start the server with `dockyard serve`")
    settings = Settings.from_json(raw.encode())
    parent = expected_parent()
    if parent is not None:
        _supervise_worker(settings, parent)
    app = create_app(settings)
    if parent is not None:
        stop_app_when_drain_is_over(app.shutdown)
    return app


def _supervise_worker(settings: Settings, parent: int) -> None:
    """A worker process: log as the parent does, and stop when `dockyard serve` is gone."""
    if not logging.getLogger().handlers:  # spawned (uvicorn's workers), not forked
        configure_logging(settings.log.level, settings.log.formatter, dict(settings.log.fields))
    watch_parent(parent, drain_seconds(settings.http.draintimeout_seconds))
