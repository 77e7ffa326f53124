"""The audit log's queue and event consumer as Prometheus metrics.

Pushes, pulls and deletes reach the audit log from the domain events
(``services/identity/event_audit.py``), refused actions from the access policy
(``services/identity/denials.py``); nothing here looks at routes any more. What is left is
:class:`AuditQueueCollector`: ``registry_audit_events_{written,dropped}_total`` and
``registry_audit_queue_events``, read at scrape time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from dockyard.services.identity.audit_buffer import AuditBuffer
from dockyard.services.identity.event_audit import EventAudit

if TYPE_CHECKING:
    from dockyard.api.observability import Metrics
    from dockyard.services.registry import Registry


def register_audit_metrics(registry: Registry, metrics: Metrics) -> None:
    """When identity management is on (the audit log is part of it)."""
    identity = registry.identity
    if identity is not None and identity.enabled:
        collector = AuditQueueCollector(identity.audit_buffer, identity.event_audit)
        metrics.registry.register(collector)


class AuditQueueCollector(Collector):
    def __init__(self, buffer: AuditBuffer, events: EventAudit) -> None:
        self.buffer = buffer
        self.events = events

    def collect(self) -> Iterator[Any]:
        yield CounterMetricFamily(
            "registry_audit_events_written",
            "Audit entries written in the background (registry events and refusals)",
            value=self.buffer.written + self.events.written,
        )
        yield CounterMetricFamily(
            "registry_audit_events_dropped",
            "Refusals dropped because the audit queue was full",
            value=self.buffer.dropped,
        )
        yield GaugeMetricFamily(
            "registry_audit_queue_events",
            "Refusals waiting to be written to the audit log",
            value=self.buffer.pending,
        )
