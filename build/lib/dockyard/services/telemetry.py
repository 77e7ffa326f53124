"""How services report progress to metrics without knowing Prometheus.

``bootstrap`` hands the API's :class:`~dockyard.api.observability.Metrics` (which implements
:class:`Telemetry`) to the services that report; the CLI, which exposes no metrics, gets
:data:`NO_TELEMETRY`. Names are the metric names without ``registry_`` and ``_total``.
"""

from __future__ import annotations

from typing import Protocol


class Telemetry(Protocol):
    def count(self, name: str, amount: float = 1.0, **labels: str) -> None:
        """Add ``amount`` to the counter ``registry_<name>_total``."""
        ...

    def gauge(self, name: str, value: float, **labels: str) -> None:
        """Set the gauge ``registry_<name>``."""
        ...


class NullTelemetry:
    def count(self, name: str, amount: float = 1.0, **labels: str) -> None:
        return None

    def gauge(self, name: str, value: float, **labels: str) -> None:
        return None


NO_TELEMETRY: Telemetry = NullTelemetry()
