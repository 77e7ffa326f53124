"""The lifecycle settings: defaults, environment overrides and validation."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from dockyard.config import ConfigError, load_settings


@pytest.fixture
def write_yaml(tmp_path: Path) -> Callable[[str], str]:
    def write(text: str) -> str:
        path = tmp_path / "config.yml"
        path.write_text("version: 0.1\n" + text)
        return str(path)

    return write


def test_gc_schedule_is_off_by_default_and_set_from_the_environment() -> None:
    default = load_settings(None, {}).dockyard.gc
    assert (default.interval_seconds, default.grace_seconds) == (0.0, 3600.0)
    env = {"REGISTRY_DOCKYARD_GC_INTERVAL": "24h", "REGISTRY_DOCKYARD_GC_GRACE": "30m",
           "REGISTRY_DOCKYARD_GC_DELETEUNTAGGED": "true"}  # fmt: skip
    gc = load_settings(None, env).dockyard.gc
    assert (gc.interval_seconds, gc.grace_seconds, gc.deleteuntagged) == (86400.0, 1800.0, True)


@pytest.mark.parametrize(
    ("key", "value"),
    [("INTERVAL", "daily"), ("GRACE", "-1h"), ("GRACE", "")],
)
def test_bad_gc_durations_are_refused(key: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"dockyard.gc.{key.lower()}"):
        load_settings(None, {f"REGISTRY_DOCKYARD_GC_{key}": value})


def test_quota_limits_parse_sizes_and_unlimited(write_yaml: Callable[[str], str]) -> None:
    path = write_yaml(
        "dockyard:\n  quotas:\n    default: 10GiB\n    projects:\n"
        "      big: unlimited\n      small: 500MB\n"
    )
    quotas = load_settings(path, {}).dockyard.quotas
    assert quotas.limit_for("anyone") == 10 * 2**30
    assert (quotas.limit_for("big"), quotas.limit_for("small")) == (None, 500_000_000)
    assert load_settings(None, {}).dockyard.quotas.limit_for("x") is None


@pytest.mark.parametrize(
    ("env", "key"),
    [
        ({"REGISTRY_DOCKYARD_QUOTAS_DEFAULT": "lots"}, "dockyard.quotas.default"),
        ({"REGISTRY_DOCKYARD_QUOTAS_WARN": "120"}, "dockyard.quotas.warn"),
    ],
)
def test_bad_quota_settings_are_refused(env: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        load_settings(None, env)


def test_immutability_patterns_are_checked(write_yaml: Callable[[str], str]) -> None:
    bad = "dockyard:\n  immutability:\n    rules:\n      - tags: 'v{1,2'\n"
    with pytest.raises(ConfigError, match=r"rules\[0\].tags: unbalanced braces"):
        load_settings(write_yaml(bad), {})
    slash = "dockyard:\n  immutability:\n    rules:\n      - tags: 'a/b'\n"
    with pytest.raises(ConfigError, match="cannot contain /"):
        load_settings(write_yaml(slash), {})
