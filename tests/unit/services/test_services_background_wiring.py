"""What build_registry starts for the settings: the audit pruner and the health monitor."""

from __future__ import annotations

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


def test_the_audit_writers_run_with_identity_on(tmp_path: Path) -> None:
    off, _ = _loops(tmp_path / "off")
    on, _ = _loops(tmp_path / "on", REGISTRY_DOCKYARD_IDENTITY_ENABLED="true")
    writers = {"AuditBuffer.run_forever", "EventAudit.run_forever"}
    assert writers <= set(on), "refusals and the outbox consumer are written while serving"
    assert not writers & set(off)
