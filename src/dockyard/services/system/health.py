"""Readiness checks behind ``/debug/health``: can this node reach its storage and database?

As registry:2 does with ``health.storagedriver`` (``enabled``, ``interval``, ``threshold``):
every ``interval`` a probe runs against the storage driver (a stat of a path that need not
exist: "not found" is an answer, so the backend is reachable) and, in dockyard, a read from
the metadata database. A check that failed ``threshold`` times in a row makes the node
unhealthy, and ``/debug/health`` answers 503 naming it, until a probe succeeds again. A
load balancer or an orchestrator's readiness probe can then take the node out of rotation.
Requests themselves are not refused: each already answers 503 while what it needs is away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from dockyard.config.health import StorageHealth
from dockyard.persistence.stores import MetadataStore
from dockyard.storage.driver import PathNotFoundError, StorageDriver

log = logging.getLogger("dockyard.health")
PROBE_PATH = "health/probe"  # never written: a stat of it only proves the backend answers
PROBE_REPOSITORY = "dockyard-health/probe"  # looked up, never created
Probe = Callable[[], Awaitable[None]]


@dataclass
class _CheckState:
    failures: int = 0
    error: str = ""


@dataclass
class HealthMonitor:
    """Runs ``probes`` every ``interval_seconds``; ``problems`` lists the failing ones."""

    probes: Mapping[str, Probe]
    interval_seconds: float = 10.0
    threshold: int = 3
    _states: dict[str, _CheckState] = field(default_factory=dict)

    def problems(self) -> dict[str, str]:
        """Each check that failed ``threshold`` times in a row, with its last error."""
        return {
            name: state.error
            for name, state in self._states.items()
            if state.failures >= self.threshold
        }

    def checks(self) -> dict[str, str]:
        """Every check by name: "ok", or the last error while it is failing."""
        problems = self.problems()
        return {name: problems.get(name, "ok") for name in self.probes}

    async def check_once(self) -> None:
        await asyncio.gather(*(self._run(name, probe) for name, probe in self.probes.items()))

    async def run_forever(self) -> None:
        while True:
            await self.check_once()
            await asyncio.sleep(self.interval_seconds)

    async def _run(self, name: str, probe: Probe) -> None:
        state = self._states.setdefault(name, _CheckState())
        try:
            await asyncio.wait_for(probe(), timeout=self.interval_seconds)
        except Exception as exc:  # any failure counts; the message is what /debug/health shows
            state.failures += 1
            state.error = f"{type(exc).__name__}: {exc}"[:300] if str(exc) else type(exc).__name__
            if state.failures == self.threshold:
                log.warning("health check %s failing: %s", name, state.error)
            return
        if state.failures >= self.threshold:
            log.warning("health check %s passing again", name)
        state.failures, state.error = 0, ""


def storage_probe(storage: StorageDriver) -> Probe:
    async def probe() -> None:
        with contextlib.suppress(PathNotFoundError):
            await storage.stat(PROBE_PATH)

    return probe


def database_probe(metadata: MetadataStore) -> Probe:
    async def probe() -> None:
        await metadata.repository_exists(PROBE_REPOSITORY)

    return probe


def build_monitor(
    options: StorageHealth, storage: StorageDriver, metadata: MetadataStore
) -> HealthMonitor | None:
    """The monitor ``options`` ask for, or None when the checks are off."""
    if not options.enabled:
        return None
    probes = {"storage": storage_probe(storage), "database": database_probe(metadata)}
    return HealthMonitor(probes, options.interval_seconds, max(options.threshold, 1))
