"""Fixtures for the real-client tests: isolated client config, htpasswd users, TLS material."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e.clientkit import PASSWORD, USER, Clients, TlsFiles, make_tls, require_tool, write_htpasswd
from support.server import RunningServer, serving


@pytest.fixture(scope="session")
def clients(tmp_path_factory: pytest.TempPathFactory) -> Clients:
    """skopeo/podman/buildah with private HOME, vfs storage, auth file and policy."""
    return Clients(tmp_path_factory.mktemp("clients"))


@pytest.fixture(scope="session")
def htpasswd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_tool("htpasswd")
    return write_htpasswd(tmp_path_factory.mktemp("auth") / "htpasswd", {USER: PASSWORD})


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def plain_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """Plain HTTP, no auth, deletes enabled: one per test module."""
    env = {"REGISTRY_STORAGE_DELETE_ENABLED": "true"}
    with serving(tmp_path_factory.mktemp("plain"), env=env) as server:
        yield server
