"""Backend combinations the API suite runs against, and the real services they need.

Each entry maps a name to a function that, given a temp directory factory, starts whatever
services it needs (once per test session) and returns the environment for ``dockyard serve``.
The embedded default needs nothing. Scale-out backends (PostgreSQL, S3) register here.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from support import postgres, seaweed

BackendFactory = Callable[[pytest.TempPathFactory], dict[str, str]]


def embedded(_: pytest.TempPathFactory) -> dict[str, str]:
    """SQLite + local filesystem: no services."""
    return {}


def postgres_filesystem(_: pytest.TempPathFactory) -> dict[str, str]:
    """PostgreSQL (the session's real server, a database per call) + local filesystem."""
    if not postgres.available():
        pytest.skip("PostgreSQL is not installed (scripts/bootstrap --test)")
    return {"REGISTRY_DOCKYARD_DATABASE": postgres.shared_server().create_database("api")}


def sqlite_s3(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """SQLite + S3 (the session's SeaweedFS, a fresh root directory per call).

    Downloads stream through dockyard here; presigned redirects (the S3 default) have their
    own tests in tests/storage/test_storage_s3.py.
    """
    weed = seaweed.session_seaweed(tmp_path_factory)
    database = tmp_path_factory.mktemp("s3-metadata") / "metadata.db"
    return {
        **weed.env(seaweed.unique_root("api")),
        "REGISTRY_DOCKYARD_DATABASE": f"sqlite:///{database}",
        "REGISTRY_STORAGE_REDIRECT_DISABLE": "true",
    }


def postgres_s3(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """PostgreSQL + S3, the scaled-out combination: the session's PostgreSQL (a database per
    call) and the session's SeaweedFS (a fresh root directory per call)."""
    if not postgres.available():
        pytest.skip("PostgreSQL is not installed (scripts/bootstrap --test)")
    weed = seaweed.session_seaweed(tmp_path_factory)
    return {
        **weed.env(seaweed.unique_root("api-pg")),
        "REGISTRY_DOCKYARD_DATABASE": postgres.shared_server().create_database("api_s3"),
        "REGISTRY_STORAGE_REDIRECT_DISABLE": "true",
    }


BACKENDS: dict[str, BackendFactory] = {"embedded": embedded}
BACKENDS["s3"] = sqlite_s3
BACKENDS["postgres"] = postgres_filesystem
BACKENDS["postgres-s3"] = postgres_s3
