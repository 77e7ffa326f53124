"""What build_registry hands the one background runner for the settings: job kinds, their
schedules, and the loops of each process (audit retention, health, purging, gc...)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from dockyard.bootstrap import build_registry
from dockyard.config.loader import load_settings
from dockyard.jobs.runner import JobRunner


def _runner(tmp_path: Path, **env: str) -> tuple[JobRunner, object]:
    settings = load_settings(
        None, {"REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": str(tmp_path), **env}
    )
    registry = build_registry(settings)
    try:
        assert isinstance(registry.background, JobRunner)
        return registry.background, registry.health
    finally:
        registry.close()


def test_defaults(tmp_path: Path) -> None:
    runner, health = _runner(tmp_path)
    assert runner.schedules == {"upload.purge": 24 * 3600.0}, "as registry:2: every 24 h"
    assert {"gc", "upload.purge", "probe"} <= set(runner.kinds), "gc runs when asked for"
    assert "audit.retention" not in runner.kinds
    assert "health" not in runner.locals and health is None
    assert "pull-times" in runner.locals


def test_each_runs_when_configured(tmp_path: Path) -> None:
    runner, health = _runner(
        tmp_path,
        REGISTRY_DOCKYARD_IDENTITY_AUDITRETENTION="720h",
        REGISTRY_HEALTH_STORAGEDRIVER_ENABLED="true",
        REGISTRY_DOCKYARD_GC_INTERVAL="12h",
        REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_ENABLED="false",
    )
    assert runner.schedules == {"audit.retention": 3600.0, "gc": 12 * 3600.0}
    assert runner.kinds["gc"].pausable and not runner.kinds["audit.retention"].pausable
    assert "health" in runner.locals and health is not None


def test_identity_adds_the_audit_buffer_loop(tmp_path: Path) -> None:
    off, _ = _runner(tmp_path / "off")
    runner, _ = _runner(tmp_path / "on", REGISTRY_DOCKYARD_IDENTITY_ENABLED="true")
    writers = {"audit-buffer", "event-audit"}  # refusals; the outbox consumer
    assert writers <= set(runner.locals)
    assert not writers & set(off.locals)


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
        assert registry.background is not None
        assert "event-delivery" in registry.background.work_loops
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
