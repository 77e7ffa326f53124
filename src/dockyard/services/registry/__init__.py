"""The bundle of services that adapters (API, CLI, jobs) are handed by bootstrap.

The bundle is immutable once built: bootstrap builds every part first and then constructs
one frozen :class:`Registry`; no service is swapped or added afterwards, so whatever holds
the registry sees the same services for its whole life.

The registry core area: this package holds the push and pull path (blobs, uploads,
publishing, manifests and their checks, listing, the blob descriptor cache, the guards
every write passes); this module is the bundle of every area's services.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dockyard.config.validation import IndexCompleteness

if TYPE_CHECKING:
    from dockyard.auth.htpasswd import HtpasswdFile
    from dockyard.auth.oidc_flow import OidcCodeFlow
    from dockyard.auth.policy import AccessPolicy
    from dockyard.services.browse.service import BrowseService
    from dockyard.services.events import EventReader
    from dockyard.services.events.deliveries import DeliveryHistory
    from dockyard.services.events.engine import DeliveryEngine
    from dockyard.services.identity.wiring import IdentityServices
    from dockyard.services.importing.importer import DistributionImporter
    from dockyard.services.jobs.model import BackgroundWork
    from dockyard.services.jobs.queue import JobQueue
    from dockyard.services.lifecycle import Lifecycle
    from dockyard.services.lifecycle.gc import GarbageCollector
    from dockyard.services.lifecycle.maintenance import UploadPurger
    from dockyard.services.lifecycle.readonly import WriteGate
    from dockyard.services.registry.blobs import BlobService
    from dockyard.services.registry.listing import ListingService
    from dockyard.services.registry.manifests import ManifestService
    from dockyard.services.registry.uploads import UploadService
    from dockyard.services.replication.service import ReplicationService
    from dockyard.services.supplychain.sboms import SupplyChainService
    from dockyard.services.system.health import HealthMonitor
    from dockyard.services.system.settings import SystemSettingsService
    from dockyard.services.trust.policies import TrustPolicies
    from dockyard.services.upstream.admin import MirrorAdmin
    from dockyard.services.upstream.mirror import Mirror
    from dockyard.services.upstream.routing import MirrorRouter
    from dockyard.services.vulns.service import VulnService
    from dockyard.services.web_sessions import WebSessions
    from dockyard.services.webhooks.service import WebhookService


@dataclass(frozen=True, slots=True)
class RegistryOptions:
    """Behaviour switches taken from configuration."""

    delete_enabled: bool = False
    read_only: bool = False
    manifest_max_bytes: int = 4 * 1024 * 1024
    # validation.manifests.indexes: which children of a pushed index must be present
    index_completeness: IndexCompleteness = field(default_factory=IndexCompleteness)
    sessions_per_repository: int = 0  # open upload sessions (dockyard.uploads); 0: no cap
    sessions_per_client: int = 0
    runtime: WriteGate | None = None  # read-only mode switched while serving (lifecycle.md)
    pull_through: bool = False  # proxy.remoteurl: a cache of one upstream, pushes refused
    caches: MirrorRouter | None = None  # cache prefixes (dockyard.mirror.upstreams): read-only


async def _nothing() -> None:
    return None


@dataclass(frozen=True, slots=True)
class Registry:
    """Every service of one assembled registry (frozen: assigning a field raises)."""

    options: RegistryOptions
    policy: AccessPolicy
    blobs: BlobService
    uploads: UploadService
    manifests: ManifestService
    listing: ListingService
    purger: UploadPurger
    importer: DistributionImporter
    gc: GarbageCollector
    lifecycle: Lifecycle
    htpasswd: HtpasswdFile | None = None
    identity: IdentityServices | None = None  # users, projects, robots, audit (dockyard.identity)
    system: SystemSettingsService | None = None  # /api/v1/system/settings
    close: Callable[[], None] = field(default=lambda: None)
    # Async lifecycle of what needs an event loop (a database pool): the ASGI lifespan
    # awaits startup() in the worker that serves and shutdown() instead of close().
    startup: Callable[[], Awaitable[None]] = field(default=_nothing)
    shutdown: Callable[[], Awaitable[None]] = field(default=_nothing)
    # The job queue (docs/jobs.md): anyone may enqueue background work on it.
    jobs: JobQueue | None = None
    # The one runner of background work in this process (queued and scheduled jobs, and the
    # loops whose state is in memory); started by the ASGI lifespan or `dockyard worker`.
    background: BackgroundWork | None = None
    # health.storagedriver: probes of storage and database behind /debug/health (None: off)
    health: HealthMonitor | None = None
    events: EventReader | None = None  # the outbox, read in order (docs/events.md)
    webhooks: WebhookService | None = None  # project webhooks (docs/webhooks.md)
    mirror: Mirror | None = None  # proxy.remoteurl: the pull-through cache (docs/mirror.md)
    mirrors: MirrorRouter | None = None  # caches under repository prefixes (docs/mirror.md)
    mirror_admin: MirrorAdmin | None = None  # /api/v1/mirrors, dockyard mirror
    delivery: DeliveryEngine | None = None  # sends events to their subscriptions
    deliveries: DeliveryHistory | None = None  # the delivery history, dead letters, replay
    supply_chain: SupplyChainService | None = None  # inventories, SBOMs (docs/supply-chain.md)
    trust: TrustPolicies | None = None  # signature trust policies (docs/supply-chain.md)
    browse: BrowseService | None = None  # tags with sizes, artifact details (web UI, /api/v1)
    web_sessions: WebSessions | None = None  # the web UI's sessions (docs/ui.md)
    oidc_flow: OidcCodeFlow | None = None  # the web UI's OIDC sign-in (code flow with PKCE)
    replication: ReplicationService | None = None  # policies and runs (docs/replication.md)
    vulns: VulnService | None = None  # advisories, findings, scans (docs/vulnerabilities.md)
