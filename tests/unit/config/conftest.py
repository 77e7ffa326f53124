"""Shared helpers for the config tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


@pytest.fixture
def example_config() -> str:
    """A full registry:2 style config.yml (filesystem, delete, htpasswd, debug, prometheus)."""
    return str(DATA / "config-example.yml")


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[[str], str]:
    """Write YAML text to a temporary config.yml and return its path."""

    def write(text: str) -> str:
        path = tmp_path / "config.yml"
        path.write_text(text, encoding="utf-8")
        return str(path)

    return write
