"""The bundle of services that adapters (API, CLI, jobs) are handed by bootstrap."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dockyard.auth.htpasswd import HtpasswdFile
    from dockyard.auth.policy import AccessPolicy
    from dockyard.services.blobs import BlobService
    from dockyard.services.gc import GarbageCollector
    from dockyard.services.importer import DistributionImporter
    from dockyard.services.listing import ListingService
    from dockyard.services.maintenance import UploadPurger
    from dockyard.services.manifests import ManifestService
    from dockyard.services.uploads import UploadService


@dataclass(frozen=True, slots=True)
class RegistryOptions:
    """Behaviour switches taken from configuration."""

    delete_enabled: bool = False
    read_only: bool = False
    manifest_max_bytes: int = 4 * 1024 * 1024


async def _nothing() -> None:
    return None


@dataclass(slots=True)
class Registry:
    options: RegistryOptions
    policy: AccessPolicy
    blobs: BlobService
    uploads: UploadService
    manifests: ManifestService
    listing: ListingService
    purger: UploadPurger
    importer: DistributionImporter
    gc: GarbageCollector
    htpasswd: HtpasswdFile | None = None
    close: Callable[[], None] = field(default=lambda: None)
    # Async lifecycle of what needs an event loop (a database pool): the ASGI lifespan
    # awaits startup() in the worker that serves and shutdown() instead of close().
    startup: Callable[[], Awaitable[None]] = field(default=_nothing)
    shutdown: Callable[[], Awaitable[None]] = field(default=_nothing)
