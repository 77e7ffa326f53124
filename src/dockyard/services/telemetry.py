"""How services report progress to metrics without knowing Prometheus.

``bootstrap`` hands the API's :class:`~dockyard.api.observability.Metrics` (which implements
:class:`Telemetry`) to the services that report; the CLI, which exposes no metrics, gets
:data:`NO_TELEMETRY`. Names are the metric names without ``registry_`` and ``_total``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
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


async def refresh_forever(
    publish: Callable[[], Awaitable[None]], what: str, log: logging.Logger, interval: float
) -> None:
    """Call ``publish`` every ``interval`` seconds; a failure (the database away) is logged
    as "could not refresh the ``what``" and the gauges keep their last values."""
    while True:
        try:
            await publish()
        except Exception as exc:  # the database away: the gauges keep their last values
            log.warning("could not refresh the %s: %s", what, exc)
        await asyncio.sleep(interval)
