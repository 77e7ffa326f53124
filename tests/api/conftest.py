"""A real dockyard server (granian, filesystem + SQLite, deletion enabled) shared by the module."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support.backends import BACKENDS
from support.server import RunningServer, serving

_counter = itertools.count()


@pytest.fixture(scope="session", params=sorted(BACKENDS))
def registry(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """The server under test, once per backend combination in ``support.backends``."""
    backend_env = BACKENDS[request.param](tmp_path_factory)
    workdir: Path = tmp_path_factory.mktemp(f"registry-{request.param}")
    env = {"REGISTRY_STORAGE_DELETE_ENABLED": "true", **backend_env}
    with serving(workdir, env=env) as running:
        yield running


@pytest.fixture
def client(registry: RunningServer) -> Iterator[httpx.Client]:
    with registry.client() as http:
        yield http


@pytest.fixture
def repo(request: pytest.FixtureRequest) -> str:
    """A fresh repository name per test."""
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:80]
    return f"test/{name}-{next(_counter)}"
