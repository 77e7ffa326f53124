"""What build_registry starts for the settings: the audit pruner and the health monitor."""

from __future__ import annotations

import asyncio
from pathlib import Path

from dockyard.bootstrap import build_registry
from dockyard.config.loader import load_settings


def _loops(tmp_path: Path, **env: str) -> tuple[list[str], object]:
    settings = load_settings(
        None, {"REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": str(tmp_path), **env}
    )
    registry = build_registry(settings)
    try:
        return [loop.__qualname__ for loop in registry.background], registry.health
    finally:
        registry.close()


def test_neither_runs_by_default(tmp_path: Path) -> None:
    loops, health = _loops(tmp_path)
    assert "AuditPruner.run_forever" not in loops
    assert "HealthMonitor.run_forever" not in loops
    assert health is None


def test_each_runs_when_configured(tmp_path: Path) -> None:
    loops, health = _loops(
        tmp_path,
        REGISTRY_DOCKYARD_IDENTITY_AUDITRETENTION="720h",
        REGISTRY_HEALTH_STORAGEDRIVER_ENABLED="true",
    )
    assert "AuditPruner.run_forever" in loops
    assert "HealthMonitor.run_forever" in loops
    assert health is not None


def test_the_delivery_engine_always_runs_with_the_configured_endpoints(tmp_path: Path) -> None:
    env = {
        "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": str(tmp_path),
        "REGISTRY_NOTIFICATIONS_ENDPOINTS_0_NAME": "ci",
        "REGISTRY_NOTIFICATIONS_ENDPOINTS_0_URL": "http://127.0.0.1:9/events",
        "REGISTRY_NOTIFICATIONS_ENDPOINTS_1_NAME": "off",
        "REGISTRY_NOTIFICATIONS_ENDPOINTS_1_URL": "http://127.0.0.1:9/off",
        "REGISTRY_NOTIFICATIONS_ENDPOINTS_1_DISABLED": "true",
    }
    registry = build_registry(load_settings(None, env))
    try:
        assert "DeliveryEngine.run_forever" in [loop.__qualname__ for loop in registry.background]
        assert registry.delivery is not None
        keys = [s.key for s in asyncio.run(registry.delivery.subscriptions()).values()]
        assert keys == ["notifications:ci"], "a disabled endpoint is no subscription"
    finally:
        registry.close()


def test_every_delivery_metric_the_engine_reports_is_declared() -> None:
    from dockyard.api.observability import Metrics

    metrics = Metrics()
    metrics.count("events_emitted", kind="manifest.pushed")
    for outcome in ("delivered", "retry", "dead"):
        metrics.count("event_deliveries", outcome=outcome)
    for gauge in (
        "event_delivery_queue_depth",
        "event_delivery_oldest_age_seconds",
        "event_dead_letters",
    ):
        metrics.gauge(gauge, 1.0)
    rendered = metrics.render().decode()
    assert 'registry_event_deliveries_total{outcome="retry"} 1.0' in rendered
    assert "registry_event_dead_letters 1.0" in rendered
