"""``dockyard.jobs`` settings: defaults, REGISTRY_DOCKYARD_JOBS_* overrides, validation, and
``dockyard serve --no-jobs``."""

from __future__ import annotations

import os

import pytest

from dockyard.cli.main import build_parser
from dockyard.cli.serve import resolve_settings
from dockyard.config import ConfigError
from dockyard.config.loader import load_settings


def test_defaults_and_environment_overrides() -> None:
    jobs = load_settings(None, {}).dockyard.jobs
    assert (jobs.runinserve, jobs.concurrency, jobs.lease_seconds) == (True, 4, 60.0)
    jobs = load_settings(
        None,
        {"REGISTRY_DOCKYARD_JOBS_RUNINSERVE": "false", "REGISTRY_DOCKYARD_JOBS_LEASE": "5m"},
    ).dockyard.jobs
    assert (jobs.runinserve, jobs.lease_seconds) == (False, 300.0)


@pytest.mark.parametrize(
    ("key", "value"),
    [("CONCURRENCY", "0"), ("LEASE", "0s"), ("BACKOFF", "soon"), ("MAXATTEMPTS", "0")],
)
def test_bad_values_are_refused_naming_the_key(key: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(None, {f"REGISTRY_DOCKYARD_JOBS_{key}": value})
    assert f"dockyard.jobs.{key.lower()}" in str(caught.value)


def test_serve_no_jobs_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("REGISTRY_")]:
        monkeypatch.delenv(name)
    args = build_parser().parse_args(["serve", "--data-dir", "/tmp/x", "--no-jobs"])
    assert resolve_settings(args).dockyard.jobs.runinserve is False
    args = build_parser().parse_args(["serve", "--data-dir", "/tmp/x"])
    assert resolve_settings(args).dockyard.jobs.runinserve is True
