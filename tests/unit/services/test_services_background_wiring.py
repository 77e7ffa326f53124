"""What build_registry hands the one background runner for the settings: job kinds, their
schedules, and the loops of each process (audit retention, health, purging, gc...)."""

from __future__ import annotations

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
