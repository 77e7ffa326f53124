"""Pushes, pulls and deletes into the audit log, noted after the response has been sent.

:class:`RegistryAuditHook` is called by the app once per ``/v2`` request, when the answer is
already on its way, so it adds nothing to the client's wait: it picks the audited requests by
route and method, and queues one event (``services.identity.audit.RegistryAudit``), which a
loop of the background runner writes in batches (``bootstrap_jobs.py``). Audited: manifest
``PUT`` (``manifest.push``), ``GET`` (``manifest.pull``, unless ``dockyard.identity.auditpulls``
is off) and ``DELETE`` (``manifest.delete`` by digest, ``tag.delete`` by tag), and blob
``DELETE`` (``blob.delete``).
Not audited: blob GETs (every layer of every pull; the manifest pull already names the
image), manifest HEADs (a check, not a download), uploads, and ``401`` answers (the challenge
that precedes nearly every authenticated request; a wrong password is a ``login`` failure).

The queue's counters are exported as Prometheus metrics by :class:`AuditQueueCollector`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from dockyard.api.context import Context
from dockyard.api.http import client_address
from dockyard.services.identity.audit import RegistryAudit
from dockyard.services.identity.audit_buffer import AuditBuffer

if TYPE_CHECKING:
    from dockyard.api.observability import Metrics
    from dockyard.services.registry import Registry

log = logging.getLogger("dockyard.audit")
TEXT_MAX = 300  # a name or reference longer than the grammar allows is cut in the log
_DIGEST = b"docker-content-digest"


def _event(ctx: Context, pulls: bool) -> str | None:
    method, route = ctx.request.method, ctx.route
    if route == "manifest":
        if method == "GET":
            return "manifest.pull" if pulls else None
        if method == "PUT":
            return "manifest.push"
        if method == "DELETE":
            return "manifest.delete" if ":" in _last_part(ctx) else "tag.delete"
    elif route == "blob" and method == "DELETE":
        return "blob.delete"
    return None


def _last_part(ctx: Context) -> str:
    return ctx.request.path.rsplit("/", 1)[-1][:TEXT_MAX]


def _details(ctx: Context, event: str) -> dict[str, Any]:
    detail: dict[str, Any] = {"status": ctx.status, "request_id": ctx.request_id}
    reference = _last_part(ctx)
    if event == "blob.delete" or ":" in reference:
        detail["digest"] = reference
    else:
        detail["tag"] = reference
    if "digest" not in detail and ctx.status < 300:
        for name, value in ctx.response_headers:
            if name == _DIGEST:
                detail["digest"] = value.decode("latin-1")[:TEXT_MAX]
                break
    return detail


class RegistryAuditHook:
    def __init__(self, audit: RegistryAudit) -> None:
        self.audit = audit

    def __call__(self, ctx: Context) -> None:
        if ctx.route not in ("manifest", "blob") or ctx.status == 401:
            return  # the cheap test first: most requests are blobs and uploads
        try:
            self._note(ctx)
        except Exception:  # the answer is sent: a bug here must not surface as a failed request
            log.exception("could not note a registry event for the audit log")

    def _note(self, ctx: Context) -> None:
        event = _event(ctx, self.audit.pulls)
        if event is None or not ctx.repository:
            return
        self.audit.note(
            ctx.principal,
            event,
            ctx.repository[:TEXT_MAX],
            client=client_address(ctx.request),
            ok=ctx.status < 400,
            detail=_details(ctx, event),
        )


def registry_audit_hook(registry: Registry, metrics: Metrics) -> RegistryAuditHook | None:
    """The hook when identity management is on (the audit log is part of it), else None."""
    identity = registry.identity
    if identity is None or not identity.enabled:
        return None
    metrics.registry.register(AuditQueueCollector(identity.registry_audit.buffer))
    return RegistryAuditHook(identity.registry_audit)


class AuditQueueCollector(Collector):
    """``registry_audit_events_{written,dropped}_total`` and ``registry_audit_queue_events``,
    read from the buffer at scrape time."""

    def __init__(self, buffer: AuditBuffer) -> None:
        self.buffer = buffer

    def collect(self) -> Iterator[Any]:
        yield CounterMetricFamily(
            "registry_audit_events_written",
            "Registry events (push, pull, delete) written to the audit log",
            value=self.buffer.written,
        )
        yield CounterMetricFamily(
            "registry_audit_events_dropped",
            "Registry events dropped because the audit queue was full",
            value=self.buffer.dropped,
        )
        yield GaugeMetricFamily(
            "registry_audit_queue_events",
            "Registry events waiting to be written to the audit log",
            value=self.buffer.pending,
        )
