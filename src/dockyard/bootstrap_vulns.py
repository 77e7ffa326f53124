"""Composition root, vulnerability part: the database stores, the service, scans on push.

Called by ``bootstrap.py`` (the service) and ``bootstrap_jobs.py`` (the jobs) only.
"""

from __future__ import annotations

from dockyard.auth.policy import AccessPolicy
from dockyard.bootstrap_events import database_is_sqlite
from dockyard.config import Settings
from dockyard.jobs.runner import JobRunner
from dockyard.jobs.vuln_metrics import publish_vuln_metrics_forever
from dockyard.persistence.sql import Database, SqlMetadata, SqlOutbox
from dockyard.persistence.sql.event_cursors import SqlEventCursors
from dockyard.persistence.sql.supplychain import SqlSupplyChain
from dockyard.persistence.sql.vulndb import SqlVulnDb
from dockyard.persistence.sql.vulns import SqlVulnFindings
from dockyard.services.identity.wiring import IdentityServices
from dockyard.services.jobs.queue import JobQueue
from dockyard.services.supplychain.indexer import LayerIndexer
from dockyard.services.supplychain.inventory import InventoryBuilder
from dockyard.services.telemetry import Telemetry
from dockyard.services.vulns import on_push
from dockyard.services.vulns.service import VulnService
from dockyard.storage.driver import StorageDriver


def build_vulns(policy: AccessPolicy, storage: StorageDriver, database: Database) -> VulnService:
    """Advisories, findings and scans; images' packages come from the layer inventories."""
    builder = InventoryBuilder(
        SqlMetadata(database), LayerIndexer(storage, SqlSupplyChain(database))
    )
    return VulnService(policy, builder, SqlVulnDb(database), SqlVulnFindings(database))


def vuln_jobs(
    runner: JobRunner,
    settings: Settings,
    service: VulnService | None,
    *,
    jobs: JobQueue,
    identity: IdentityServices | None,
    database: Database,
    telemetry: Telemetry | None,
) -> None:
    """Scans on push: every pushed image or index becomes a ``vulns.scan`` job; the gauges
    where metrics are served."""
    if service is None:
        return
    if settings.http.debug.addr and telemetry is not None:
        runner.local("vuln-gauges", lambda: publish_vuln_metrics_forever(service, telemetry))
    runner.handle(on_push.KIND, on_push.scan_handler(service.scan))
    if not settings.dockyard.supplychain.scanonpush or identity is None or not identity.enabled:
        return  # as SBOMs on push: a registry run as registry:2 queues no job per push
    outbox = SqlOutbox(database, snapshot_bound=not database_is_sqlite(settings))
    consumer = on_push.ScanOnPush(outbox, SqlEventCursors(database), jobs.enqueue)
    runner.work_loop(on_push.CONSUMER, consumer.run_forever)
