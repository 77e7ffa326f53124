"""Composition of backup and restore: the live (or target) registry's storage and database,
and the store a backup lives in (a directory, or ``s3://bucket/prefix`` with the usual
``AWS_*`` environment variables for credentials and endpoint)."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar
from urllib.parse import urlsplit

from dockyard.bootstrap import POSTGRES_PREFIXES, SQLITE_PREFIX, build_database, build_storage
from dockyard.bootstrap_extras import require_extra
from dockyard.config import Settings
from dockyard.config.model import S3Settings
from dockyard.persistence.backup_records import MetadataRestorer, SnapshotSource
from dockyard.persistence.sql.backup import SqlBlobHolds
from dockyard.services.backup.backup import BackupOptions, BackupService
from dockyard.services.backup.layout_export import LayoutExporter
from dockyard.services.backup.layout_import import LayoutImporter
from dockyard.services.backup.restore import RestoreService
from dockyard.services.registry import Registry
from dockyard.storage.driver import StorageDriver
from dockyard.storage.drivers.filesystem import FilesystemDriver
from dockyard.storage.oci_layout import OciLayoutView
from dockyard.storage.readonly import ReadOnlyDriver

T = TypeVar("T")


@dataclass
class Built(Generic[T]):
    service: T
    startup: Callable[[], Awaitable[None]]
    shutdown: Callable[[], Awaitable[None]]


def backup_store(location: str, *, writable: bool) -> StorageDriver:
    """The store at ``location``: a local directory, or ``s3://bucket/prefix``."""
    if location.startswith("s3://"):
        require_extra("s3", "a backup location in S3")
        from dockyard.storage.drivers.s3 import S3Driver  # botocore loads slowly

        parts = urlsplit(location)
        endpoint = os.environ.get("AWS_ENDPOINT_URL", "")
        settings = S3Settings(
            accesskey=os.environ.get("AWS_ACCESS_KEY_ID", ""),
            secretkey=os.environ.get("AWS_SECRET_ACCESS_KEY", ""),
            sessiontoken=os.environ.get("AWS_SESSION_TOKEN", ""),
            region=os.environ.get("AWS_REGION", os.environ.get("AWS_DEFAULT_REGION", "")),
            regionendpoint=endpoint,
            forcepathstyle=bool(endpoint),
            secure=not endpoint.startswith("http://"),
            bucket=parts.netloc,
            rootdirectory=parts.path.strip("/"),
        )
        driver: StorageDriver = S3Driver.from_settings(settings, redirect=False)
    elif writable:
        driver = FilesystemDriver(location, direct_writes=False)
    else:
        if not os.path.isdir(location):
            raise SystemExit(f"error: {location} is not a directory")
        driver = FilesystemDriver(location, direct_writes=False)
    return driver if writable else ReadOnlyDriver(driver)


def _database_url(settings: Settings) -> str:
    url = settings.database_url()
    if not url.startswith((SQLITE_PREFIX, *POSTGRES_PREFIXES)) or url == SQLITE_PREFIX + ":memory:":
        raise SystemExit("error: backup and restore need a SQLite file or PostgreSQL database")
    return url


def build_backup(settings: Settings) -> Built[BackupService]:
    url = _database_url(settings)
    database = build_database(settings)
    source: SnapshotSource
    if url.startswith(SQLITE_PREFIX):
        from dockyard.persistence.sqlite.backup import SqliteSnapshotSource

        source = SqliteSnapshotSource(url[len(SQLITE_PREFIX) :])
    else:
        require_extra("postgres", "dockyard.database (PostgreSQL)")
        from dockyard.persistence.postgres.backup import PostgresSnapshotSource

        source = PostgresSnapshotSource(url)
    options = BackupOptions(pin_seconds=settings.dockyard.gc.grace_seconds)
    service = BackupService(
        build_storage(settings), source, SqlBlobHolds(database), options=options
    )
    return Built(service, database.open, database.aclose)


def build_restore(settings: Settings) -> Built[RestoreService]:
    url = _database_url(settings)
    restorer: MetadataRestorer
    if url.startswith(SQLITE_PREFIX):
        from dockyard.persistence.sqlite.backup import SqliteRestorer

        restorer = SqliteRestorer(url[len(SQLITE_PREFIX) :])
    else:
        require_extra("postgres", "dockyard.database (PostgreSQL)")
        from dockyard.persistence.postgres.backup import PostgresRestorer

        restorer = PostgresRestorer(url)

    async def nothing() -> None:
        return None

    return Built(RestoreService(build_storage(settings), restorer), nothing, nothing)


def layout_exporter(registry: Registry) -> LayoutExporter:
    """The exporter, over the started ``registry``'s storage and database."""
    checker = registry.lifecycle.fsck
    return LayoutExporter(checker.storage, checker.metadata, checker.store)


def layout_importer(registry: Registry) -> LayoutImporter:
    return LayoutImporter(registry.importer.storage, registry.importer.metadata)


def layout_target(directory: str) -> StorageDriver:
    """Where ``dockyard export`` writes an image layout (a local directory)."""
    return FilesystemDriver(directory, direct_writes=False)


def layout_source(directory: str) -> StorageDriver:
    """An image layout directory, read-only, seen under dockyard's blob paths."""
    if not os.path.isfile(os.path.join(directory, "index.json")):
        raise SystemExit(f"error: {directory} is not an OCI image layout (no index.json)")
    return OciLayoutView(FilesystemDriver(directory, direct_writes=False))
