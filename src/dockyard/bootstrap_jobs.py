"""Composition root, background part: the job queue, the runner, and what it runs.

Called by ``bootstrap.py`` only. Every kind of background work is registered here: the job
kinds (with their schedules from the configuration) and the loops of each process whose
state is in memory. To add a kind: ``runner.handle(kind, handler)`` and, if periodic,
``runner.every(kind, seconds)``; anyone holding ``registry.jobs`` may then enqueue it.
The runner is built from the services it runs (:class:`BackgroundInputs`) before the frozen
``Registry`` that holds it.
"""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.auth.htpasswd import HtpasswdFile
from dockyard.bootstrap_events import database_is_sqlite
from dockyard.bootstrap_identity import audit_pruner, htpasswd_watch
from dockyard.bootstrap_lifecycle import cache_expiry_policies
from dockyard.bootstrap_replication import register_replication_jobs
from dockyard.bootstrap_vulns import vuln_jobs
from dockyard.config import Settings
from dockyard.jobs import gc, maintenance, mirror_warm, probe, retention
from dockyard.jobs.metrics import publish_queue_metrics_forever
from dockyard.jobs.quota import publish_quota_metrics_forever
from dockyard.jobs.runner import JobRunner, RunnerOptions
from dockyard.persistence.sql import Database, SqlOutbox
from dockyard.persistence.sql.backup import SqlBlobHolds
from dockyard.persistence.sql.event_cursors import SqlEventCursors
from dockyard.persistence.sql.jobs import SqlJobStore
from dockyard.persistence.sqlite import SqliteDatabase
from dockyard.services.events.engine import DeliveryEngine
from dockyard.services.identity.wiring import IdentityServices
from dockyard.services.jobs.model import Backoff
from dockyard.services.jobs.queue import JobQueue
from dockyard.services.lifecycle import Lifecycle
from dockyard.services.lifecycle.gc import GarbageCollector
from dockyard.services.lifecycle.maintenance import UploadPurger
from dockyard.services.replication.service import ReplicationService
from dockyard.services.supplychain import on_push
from dockyard.services.supplychain.sboms import SupplyChainService
from dockyard.services.system.health import HealthMonitor
from dockyard.services.system_gauges import SystemGauges
from dockyard.services.telemetry import NO_TELEMETRY, Telemetry
from dockyard.services.upstream.mirror import Mirror
from dockyard.services.upstream.routing import MirrorRouter
from dockyard.services.upstream.warm import CacheWarmer, resolver
from dockyard.services.vulns.service import VulnService

CACHE_EXPIRY_INTERVAL = 3600.0  # proxy.ttl without dockyard.retention.interval: checked hourly


@dataclass(frozen=True, slots=True)
class BackgroundInputs:
    """The services background work runs (each built before the runner)."""

    jobs: JobQueue
    lifecycle: Lifecycle
    gc: GarbageCollector
    purger: UploadPurger
    identity: IdentityServices | None
    htpasswd: HtpasswdFile | None
    health: HealthMonitor | None
    delivery: DeliveryEngine | None
    supply_chain: SupplyChainService | None
    mirror: Mirror | None = None  # proxy.remoteurl's cache (mirror warming)
    mirrors: MirrorRouter | None = None  # the caches under prefixes (mirror warming)
    replication: ReplicationService | None = None  # its run jobs, schedules, on-push consumer
    vulns: VulnService | None = None  # scans on push, the findings gauges


def build_job_queue(settings: Settings, database: Database) -> JobQueue:
    jobs = settings.dockyard.jobs
    store = SqlJobStore(database, skip_locked=not isinstance(database, SqliteDatabase))
    backoff = Backoff(jobs.backoff_seconds, jobs.maxbackoff_seconds)
    return JobQueue(store, lease_seconds=jobs.lease_seconds, backoff=backoff)


def build_runner(
    settings: Settings, parts: BackgroundInputs, database: Database, telemetry: Telemetry | None
) -> JobRunner:
    jobs = settings.dockyard.jobs
    options = RunnerOptions(
        concurrency=jobs.concurrency,
        poll_seconds=jobs.poll_seconds,
        stop_seconds=jobs.stoptimeout_seconds,
        keep_done_seconds=jobs.keepdone_seconds,
    )
    runner = JobRunner(
        parts.jobs,
        options,
        paused=parts.lifecycle.gate.read_only,  # gc, retention, purge wait while read-only
        telemetry=telemetry or NO_TELEMETRY,
    )
    runner.handle(probe.KIND, probe.probe_handler(parts.jobs.owner),
                  max_attempts=jobs.maxattempts)  # fmt: skip
    _lifecycle_jobs(runner, settings, parts)
    _maintenance_jobs(runner, settings, parts, database)
    _local_loops(runner, settings, parts, telemetry, database)
    _supply_chain_jobs(runner, settings, parts, database)
    warmer = CacheWarmer(resolver(parts.mirrors, parts.mirror))
    runner.handle(mirror_warm.KIND, mirror_warm.warm_handler(warmer),
                  max_attempts=jobs.maxattempts)  # fmt: skip
    register_replication_jobs(runner, settings, parts.replication, database)
    vuln_jobs(runner, settings, parts.vulns, jobs=parts.jobs, identity=parts.identity,
              database=database, telemetry=telemetry)  # fmt: skip
    return runner


def _supply_chain_jobs(
    runner: JobRunner, settings: Settings, parts: BackgroundInputs, database: Database
) -> None:
    """SBOMs on push: pushed images become jobs (``services/supplychain/on_push.py``)."""
    if parts.supply_chain is None:
        return
    runner.handle(on_push.KIND, on_push.sbom_handler(parts.supply_chain.index_and_attach))
    identity = parts.identity
    if not settings.dockyard.supplychain.sbomonpush or identity is None or not identity.enabled:
        return  # projects (and their switch) are identity management's: without it, none
    outbox = SqlOutbox(database, snapshot_bound=not database_is_sqlite(settings))
    consumer = on_push.SbomOnPush(outbox, SqlEventCursors(database), parts.jobs.enqueue)
    runner.work_loop("sbom-on-push", consumer.run_forever)


def _lifecycle_jobs(runner: JobRunner, settings: Settings, parts: BackgroundInputs) -> None:
    attempts = settings.dockyard.jobs.maxattempts
    collect = settings.dockyard.gc
    handler = gc.gc_handler(
        parts.gc, delete_untagged=collect.deleteuntagged, dry_run=collect.dryrun
    )
    runner.handle(gc.KIND, handler, max_attempts=attempts, pausable=True)
    if collect.interval_seconds > 0:
        runner.every(gc.KIND, collect.interval_seconds)
    policies = settings.dockyard.retention
    expiring = bool(cache_expiry_policies(settings))  # proxy.ttl, an upstream's ttl
    if policies.policies or expiring:
        runner.handle(
            retention.KIND,
            retention.retention_handler(parts.lifecycle.retention),
            max_attempts=attempts,
            pausable=True,
        )
        if policies.interval_seconds > 0:
            runner.every(retention.KIND, policies.interval_seconds)
        elif expiring:  # cached content expires without a retention schedule of its own
            runner.every(retention.KIND, CACHE_EXPIRY_INTERVAL)


def _maintenance_jobs(
    runner: JobRunner, settings: Settings, parts: BackgroundInputs, database: Database
) -> None:
    attempts = settings.dockyard.jobs.maxattempts
    purger = parts.purger
    runner.handle(maintenance.PURGE_KIND, maintenance.purge_handler(purger),
                  max_attempts=attempts, pausable=True)  # fmt: skip
    if purger.enabled and purger.interval_seconds > 0:
        runner.every(maintenance.PURGE_KIND, purger.interval_seconds)
    pruner = audit_pruner(settings, database)
    if pruner is not None:
        handler = maintenance.audit_retention_handler(pruner)
        runner.handle(maintenance.AUDIT_KIND, handler, max_attempts=attempts)
        runner.every(maintenance.AUDIT_KIND, pruner.interval_seconds)


def _local_loops(
    runner: JobRunner,
    settings: Settings,
    parts: BackgroundInputs,
    telemetry: Telemetry | None,
    database: Database,
) -> None:
    """Loops whose state is this process's memory: they run in every process."""
    runner.local("pull-times", parts.lifecycle.pulls.run_forever)  # written in batches
    identity = parts.identity
    if identity is not None and identity.enabled:  # the audit log's writers
        runner.local("audit-buffer", identity.audit_buffer.run_forever)  # refusals
        runner.local("event-audit", identity.event_audit.run_forever)  # from the outbox
    watch = htpasswd_watch(parts.htpasswd, parts.identity)
    if watch is not None:
        runner.local("htpasswd-watch", watch.run_forever)
    if parts.health is not None:
        runner.local("health", parts.health.run_forever)
    if parts.delivery is not None:  # leased deliveries: safe on every node
        runner.work_loop("event-delivery", parts.delivery.run_forever)
    if settings.http.debug.addr and telemetry is not None:  # metrics are served
        quotas, queue, gauges = parts.lifecycle.quotas, parts.jobs, telemetry
        runner.local("quota-gauges", lambda: publish_quota_metrics_forever(quotas))
        runner.local("queue-gauges", lambda: publish_queue_metrics_forever(queue, gauges))
        purger = parts.purger  # holds the storage and the metadata store
        system = SystemGauges(purger.storage, purger.metadata.uploads, parts.health, gauges,
                              last_backup=SqlBlobHolds(database).last_success)  # fmt: skip
        runner.local("system-gauges", system.run_forever)
