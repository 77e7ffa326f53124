"""Prometheus metrics (the access log is api/access_log.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from dockyard.api.lifecycle_metrics import LifecycleMetrics

if TYPE_CHECKING:
    from dockyard.api.context import Context

_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    """The registry's metrics, in a collector registry of their own (no process globals)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "registry_http_requests_total",
            "HTTP requests by method, route and status code",
            ["method", "route", "code"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "registry_http_request_duration_seconds",
            "HTTP request duration by method and route",
            ["method", "route"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.storage_actions = Counter(
            "registry_storage_action_total",
            "Storage actions by driver and action",
            ["driver", "action"],
            registry=self.registry,
        )
        self.bytes_pushed = Counter(
            "registry_bytes_pushed_total",
            "Blob and manifest bytes received",
            registry=self.registry,
        )
        self.bytes_pulled = Counter(
            "registry_bytes_pulled_total", "Blob and manifest bytes sent", registry=self.registry
        )
        self._rehash_seen = 0
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self.upload_rehash = Counter(
            "registry_upload_rehash_total",
            "Chunked uploads whose hash was rebuilt from stored bytes",
            registry=self.registry,
        )
        self.lifecycle = LifecycleMetrics(self.registry)
        # services.telemetry.Telemetry: garbage collection, jobs, quotas, retention
        self.count = self.lifecycle.count
        self.gauge = self.lifecycle.gauge

    def observe(self, ctx: Context, seconds: float) -> None:
        method = ctx.request.method
        key = (method, ctx.route, ctx.status)
        children = self._children.get(key)
        if children is None:  # labels() costs more than the increment; resolve it once
            children = (
                self.requests.labels(method, ctx.route, str(ctx.status)),
                self.duration.labels(method, ctx.route),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)
        if ctx.request.bytes_received:
            self.bytes_pushed.inc(ctx.request.bytes_received)
        if method == "GET" and ctx.status in (200, 206) and ctx.route in ("blob", "manifest"):
            self.bytes_pulled.inc(ctx.bytes_sent)

    def storage_action(self, driver: str, action: str) -> None:
        self.storage_actions.labels(driver, action).inc()

    def sync_rehash_count(self, total: int) -> None:
        """Bring the rehash counter up to the upload service's running total."""
        if total > self._rehash_seen:
            self.upload_rehash.inc(total - self._rehash_seen)
            self._rehash_seen = total

    def render(self) -> bytes:
        return bytes(generate_latest(self.registry))
