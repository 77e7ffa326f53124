"""The vulnerability gauges, refreshed by a loop in each process that serves metrics: the
loaded database (``registry_vulndb_info{version}``, its advisories and age) and the findings
of the judged images by severity. The database is shared, so every node reports the same."""

from __future__ import annotations

import logging
import time

from dockyard.core.vulns.severity import SEVERITIES
from dockyard.services.telemetry import Telemetry, refresh_forever
from dockyard.services.vulns.service import VulnService

log = logging.getLogger("dockyard.vulns")
INTERVAL_SECONDS = 30.0


async def publish_vuln_metrics(service: VulnService, telemetry: Telemetry, seen: set[str]) -> None:
    """Set every gauge once; a database version replaced by another goes to 0."""
    state = await service.database()
    if state is not None:
        telemetry.gauge("vulndb_advisories", state.advisories)
        telemetry.gauge("vulndb_age_seconds", max(0.0, time.time() - state.imported_at))
        for old in seen - {state.version}:
            telemetry.gauge("vulndb_info", 0, version=old)
        telemetry.gauge("vulndb_info", 1, version=state.version)
        seen.add(state.version)
    images, counts = await service.totals()
    telemetry.gauge("vulnerability_images_scanned", images)
    for severity, count in zip(SEVERITIES, counts, strict=True):
        telemetry.gauge("vulnerability_findings", count, severity=severity)


async def publish_vuln_metrics_forever(
    service: VulnService, telemetry: Telemetry, interval_seconds: float = INTERVAL_SECONDS
) -> None:
    seen: set[str] = set()
    await refresh_forever(
        lambda: publish_vuln_metrics(service, telemetry, seen), "vulnerability metrics", log,
        interval_seconds,
    )  # fmt: skip
