"""Backend combinations the API suite runs against, and the real services they need.

Each entry maps a name to a function that, given a temp directory factory, starts whatever
services it needs (once per test session) and returns the environment for ``dockyard serve``.
The embedded default needs nothing. Scale-out backends (PostgreSQL, S3) register here.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

BackendFactory = Callable[[pytest.TempPathFactory], dict[str, str]]


def embedded(_: pytest.TempPathFactory) -> dict[str, str]:
    """SQLite + local filesystem: no services."""
    return {}


BACKENDS: dict[str, BackendFactory] = {"embedded": embedded}
