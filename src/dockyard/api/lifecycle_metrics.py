"""The lifecycle metrics (garbage collection, the job queue, quotas, retention) and the
event delivery metrics.

Services report through the :class:`~dockyard.services.telemetry.Telemetry` protocol by short
names; this table turns each into a Prometheus counter (``registry_<name>_total``) or gauge
(``registry_<name>``). A name missing here is a programming error and raises.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

COUNTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "gc_runs": ("Garbage collection runs by result (ok, stopped, failed, dry-run)", ("result",)),
    "gc_manifests_deleted": ("Untagged manifests deleted by garbage collection", ()),
    "gc_blobs_marked": ("Unreferenced blobs garbage collection marked for deletion", ()),
    "gc_bytes_marked": ("Bytes of the blobs garbage collection marked for deletion", ()),
    "gc_blobs_freed": ("Blobs whose bytes garbage collection deleted", ()),
    "gc_bytes_freed": ("Bytes garbage collection freed", ()),
    "job_runs": (
        "Job attempts by kind (job) and outcome (ok, failed, dead, released, lost)",
        ("job", "result"),
    ),
    "quota_denied": ("Uploads refused because the project quota was exceeded", ("project",)),
    "retention_manifests_deleted": ("Manifests deleted by retention, by policy", ("policy",)),
    "pulls_recorded": ("Manifest pull times written to the database (in batches)", ()),
    "pull_flush_failures": ("Batches of manifest pull times that could not be written", ()),
    "audit_refusals_suppressed": (
        "Refusals (throttled logins, refused tokens) left out of the audit log by the per-node cap",
        (),
    ),
    "mirror_hits": ("Pull-through cache answers from storage", ("upstream", "kind")),
    "mirror_misses": ("Pull-through cache requests sent upstream", ("upstream", "kind")),
    "mirror_coalesced": (
        "Blob requests that joined a download already in flight (no upstream request)",
        ("upstream", "kind"),
    ),
    "mirror_stale": (
        "Cached tags served as last known because the upstream was down",
        ("upstream", "kind"),
    ),
    "mirror_bytes_fetched": ("Bytes received from the upstream registry", ("upstream",)),
    "mirror_errors": ("Upstream failures by kind", ("upstream", "kind")),
    "events_emitted": ("Domain events read from the outbox and dispatched, by kind", ("kind",)),
    "event_deliveries": (
        "Event delivery attempts by outcome (delivered, retry, dead)",
        ("outcome",),
    ),
    "login_throttle_fallbacks": (
        "Login throttle checks and updates done with this process's counts only (Redis down)",
        (),
    ),
}
GAUGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "job_last_success_timestamp_seconds": (
        "When a job of this kind last finished successfully on this node",
        ("job",),
    ),
    "job_queue_depth": ("Jobs waiting to run (queued, or failed and to be retried)", ("kind",)),
    "job_queue_oldest_seconds": ("Age of the oldest job waiting to run", ("kind",)),
    "job_running": ("Jobs running on some node (holding a lease)", ("kind",)),
    "job_dead_letters": ("Jobs out of attempts, waiting for `dockyard jobs retry`", ("kind",)),
    "quota_used_bytes": ("Bytes stored by a project, counted once per blob", ("project",)),
    "quota_limit_bytes": ("A project's quota (absent: unlimited)", ("project",)),
    "event_delivery_queue_depth": ("Event deliveries waiting to be sent (all nodes)", ()),
    "event_delivery_oldest_age_seconds": (
        "Age of the oldest event delivery still waiting to be sent (0: none)",
        (),
    ),
    "event_dead_letters": ("Event deliveries that gave up (dead letters, all nodes)", ()),
    "storage_free_bytes": (
        "Bytes free on the filesystem of the storage root (0: an object store)",
        (),
    ),
    "storage_size_bytes": ("Size of the filesystem of the storage root (0: an object store)", ()),
    "uploads_open": ("Upload sessions open (all nodes)", ()),
    "uploads_oldest_seconds": ("Age of the oldest open upload session (0: none)", ()),
    "backup_last_success_timestamp_seconds": (
        "When the newest complete `dockyard backup` finished (0: never)",
        (),
    ),
    "health_check_failing": (
        "1 while a health.storagedriver check (storage, database) is failing, else 0",
        ("check",),
    ),
    "vulndb_advisories": ("Advisories in the loaded vulnerability database", ()),
    "vulndb_age_seconds": ("Seconds since the vulnerability database was imported", ()),
    "vulndb_info": (
        "The loaded vulnerability database (1), labelled with its version",
        ("version",),
    ),
    "vulnerability_images_scanned": ("Image manifests judged against the database", ()),
    "vulnerability_findings": (
        "Findings in the judged images by severity (an image counted once, however many tags)",
        ("severity",),
    ),
}


class LifecycleMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.counters: dict[str, Any] = {
            name: Counter(f"registry_{name}_total", text, list(labels), registry=registry)
            for name, (text, labels) in COUNTERS.items()
        }
        self.gauges: dict[str, Any] = {
            name: Gauge(f"registry_{name}", text, list(labels), registry=registry)
            for name, (text, labels) in GAUGES.items()
        }

    def count(self, name: str, amount: float = 1.0, **labels: str) -> None:
        counter = self.counters[name]
        (counter.labels(**labels) if labels else counter).inc(amount)

    def gauge(self, name: str, value: float, **labels: str) -> None:
        gauge = self.gauges[name]
        (gauge.labels(**labels) if labels else gauge).set(value)
