"""The assembled Registry is immutable: bootstrap builds every part first, and nothing (the
API, the CLI, a job, a later bootstrap step) can swap or add a service afterwards."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from mypy import api

from dockyard.bootstrap import build_registry
from dockyard.config.loader import load_settings
from dockyard.services.registry import Registry


def _registry(tmp_path: Path, **env: str) -> Registry:
    settings = load_settings(
        None, {"REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": str(tmp_path), **env}
    )
    return build_registry(settings)


@pytest.mark.parametrize("name", [field.name for field in dataclasses.fields(Registry)])
def test_no_field_can_be_assigned_after_construction(tmp_path: Path, name: str) -> None:
    registry = _registry(tmp_path)
    try:
        before = getattr(registry, name)
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(registry, name, None)
        assert getattr(registry, name) is before
    finally:
        registry.close()


def test_no_attribute_can_be_added(tmp_path: Path) -> None:
    registry = _registry(tmp_path)
    try:
        with pytest.raises((dataclasses.FrozenInstanceError, AttributeError, TypeError)):
            registry.extra = object()  # type: ignore[attr-defined]
        assert not hasattr(registry, "extra")
    finally:
        registry.close()


def test_every_part_is_built_before_the_registry(tmp_path: Path) -> None:
    """What bootstrap used to assign afterwards is there from the start, and the parts that
    need each other see the same objects (the runner runs the registry's delivery engine,
    the engine sends project webhooks' events)."""
    registry = _registry(tmp_path, REGISTRY_DOCKYARD_IDENTITY_ENABLED="true")
    try:
        assert registry.background is not None and registry.webhooks is not None
        assert registry.system is not None and registry.supply_chain is not None
        assert registry.delivery is not None
        assert registry.webhooks.source in registry.delivery.sources
        loop = registry.background.work_loops["event-delivery"]
        assert getattr(loop, "__self__", None) is registry.delivery
        assert registry.supply_chain.uploads is registry.uploads
    finally:
        registry.close()


def test_main_features_are_parts_not_late_assignments(tmp_path: Path) -> None:
    """Trust policies and the pull gate, the cache prefixes and their admin, the web UI's
    services, replication and vulnerability scans (each once assigned after construction)
    are built first and wired to the same services the registry holds."""
    registry = _registry(tmp_path, REGISTRY_DOCKYARD_IDENTITY_ENABLED="true")
    try:
        assert registry.trust is not None
        assert registry.manifests.gate is not None  # the pull gate checks trust policies
        assert registry.mirrors is not None and registry.mirrors is registry.options.caches
        assert registry.mirrors.factory is not None  # caches can be made on first use
        assert registry.mirror_admin is not None
        assert registry.mirror_admin.router is registry.mirrors
        assert registry.browse is not None and registry.browse.blobs is registry.blobs
        assert registry.web_sessions is not None
        assert registry.oidc_flow is None  # no OpenID provider configured
        assert registry.replication is not None
        assert registry.replication.queue is registry.jobs
        runner = registry.background
        assert runner is not None
        assert "replication-on-push" in runner.work_loops
        assert "mirror.warm" in runner.kinds
        assert registry.vulns is not None and "vulns.scan" in runner.kinds
    finally:
        registry.close()


def test_without_identity_the_identity_parts_stay_off(tmp_path: Path) -> None:
    registry = _registry(tmp_path)
    try:
        assert registry.trust is None and registry.manifests.gate is None
        assert registry.mirrors is not None  # the router exists; no prefixes configured
    finally:
        registry.close()


def test_mypy_rejects_assignment(tmp_path: Path) -> None:
    """The type checker refuses an assignment too (so it is caught before it runs)."""
    snippet = tmp_path / "assign.py"
    snippet.write_text(
        "from dockyard.services.registry import Registry\n\n"
        "def swap(registry: Registry) -> None:\n"
        "    registry.mirror = None\n"
    )
    root = Path(__file__).resolve().parents[3]
    out, _err, status = api.run(
        [
            str(snippet),
            "--strict",
            "--cache-dir",
            str(root / ".mypy_cache"),
            "--config-file",
            str(root / "pyproject.toml"),
        ]
    )
    assert status == 1, out
    assert 'Property "mirror" defined in "Registry" is read-only' in out or "read-only" in out
