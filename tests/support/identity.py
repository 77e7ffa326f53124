"""Servers with identity management on, and a small client for the management API."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from support.server import DOCKYARD, RunningServer, serving

ADMIN = ("admin", "admin-password")


def identity_env(**extra: str) -> dict[str, str]:
    return {
        "REGISTRY_DOCKYARD_IDENTITY_ENABLED": "true",
        "REGISTRY_DOCKYARD_IDENTITY_PASSWORDCOST": "4",
        "REGISTRY_STORAGE_DELETE_ENABLED": "true",
        # projects get SBOMs on push by default: tests of other features keep their
        # repositories to what they push (tests/integration/test_supply_chain_api.py turns it on)
        "REGISTRY_DOCKYARD_SUPPLYCHAIN_SBOMONPUSH": "false",
        # nor vulnerability scans on push (tests/integration/test_vulns_api.py turns them on)
        "REGISTRY_DOCKYARD_SUPPLYCHAIN_SCANONPUSH": "false",
        **extra,
    }


def cli(data_dir: Path, env: dict[str, str], *args: str, stdin: str = "") -> str:
    """Run ``dockyard ARGS --data-dir DATA`` (exit 0 required); its stdout."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")} | env
    done = subprocess.run(
        [DOCKYARD, *args, "--data-dir", str(data_dir)],
        input=stdin, capture_output=True, text=True, env=full, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


@contextmanager
def identity_server(workdir: Path, **extra: str) -> Iterator[RunningServer]:
    """A server with identity on and a first administrator made with the CLI."""
    env = identity_env(**extra)
    data = workdir / "data"
    cli(data, env, "user", "add", ADMIN[0], "--admin", "--password-stdin", stdin=ADMIN[1] + "\n")
    with serving(workdir, env=env, data_dir=data) as server:
        yield server


class Api:
    """``/api/v1`` as some caller."""

    def __init__(self, server: RunningServer, auth: tuple[str, str] | None = ADMIN) -> None:
        self.http = httpx.Client(base_url=server.url + "/api/v1", auth=auth, timeout=30)

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *_: object) -> None:
        self.http.close()

    def ok(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        response = self.http.request(method, path, **kwargs)
        assert response.status_code == status, (method, path, response.status_code, response.text)
        return response.json() if response.content else None

    def user(self, name: str, password: str, *, admin: bool = False) -> None:
        self.ok("POST", "/users", 201, json={"name": name, "password": password, "admin": admin})

    def project(self, name: str, *, public: bool = False) -> None:
        self.ok("POST", "/projects", 201, json={"name": name, "public": public})

    def member(
        self, project: str, name: str, role: str, repositories: str = "", kind: str = "user"
    ) -> int:
        body = {"name": name, "role": role, "repositories": repositories, "kind": kind}
        member: dict[str, Any] = self.ok("POST", f"/projects/{project}/members", 201, json=body)
        return int(member["id"])

    def robot(self, name: str, project: str | None, *permissions: str) -> tuple[int, str, str]:
        access = [{"project": project or "*", "permissions": list(permissions)}]
        made = self.ok("POST", "/robots", 201, json={"name": name, "project": project,
                                                     "access": access})  # fmt: skip
        return int(made["robot"]["id"]), made["robot"]["name"], made["secret"]
