"""Keep the per-project usage gauges (``registry_quota_used_bytes``) fresh on every node."""

from __future__ import annotations

import asyncio
import logging

from dockyard.services.lifecycle.quotas import QuotaService

log = logging.getLogger("dockyard.jobs")
METRICS_SECONDS = 300.0


async def publish_quota_metrics_forever(
    quotas: QuotaService, interval_seconds: float = METRICS_SECONDS
) -> None:
    while True:
        try:
            await quotas.publish_metrics()
        except Exception:
            log.exception("could not refresh the quota usage metrics")
        await asyncio.sleep(interval_seconds)
