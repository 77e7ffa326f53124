"""``dockyard token rotate|list|retire`` against a running token-issuing server."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from e2e.clientkit import write_htpasswd
from support.server import DOCKYARD, RunningServer, serving
from support.tokens import unverified

USERS = {"alice": "alice-pw"}


def dockyard(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")} | (env or {})
    return subprocess.run(
        [DOCKYARD, *args], capture_output=True, text=True, env=full, timeout=60, check=False
    )


def token_of(server: RunningServer) -> str:
    response = httpx.get(
        f"{server.url}/token", params={"service": "dockyard"}, auth=("alice", "alice-pw")
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["token"]
    return token


def wait_for(condition: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the server did not pick up the key change"
        time.sleep(0.2)


def test_rotate_list_and_retire_on_a_running_server(tmp_path: Path) -> None:
    env = {
        "REGISTRY_AUTH": "htpasswd",
        "REGISTRY_AUTH_HTPASSWD_REALM": "dockyard",
        "REGISTRY_AUTH_HTPASSWD_PATH": str(write_htpasswd(tmp_path / "htpasswd", USERS)),
        "REGISTRY_DOCKYARD_TOKEN_ENABLED": "true",
    }
    with serving(tmp_path, env=env) as server:
        where = ["--data-dir", str(server.data_dir)]
        old = token_of(server)
        old_kid = unverified(old)[0]["kid"]
        listed = dockyard("token", "list", *where, env=env)
        assert listed.returncode == 0 and listed.stdout.split()[0] == old_kid

        rotated = dockyard("token", "rotate", *where, env=env)
        assert rotated.returncode == 0, rotated.stderr
        new_kid = rotated.stdout.strip()
        assert new_kid and new_kid != old_kid
        lines = dockyard("token", "list", *where, env=env).stdout.splitlines()
        assert [line.split()[0] for line in lines] == [old_kid, new_kid]
        assert lines[-1].endswith("signing") and not lines[0].endswith("signing")
        wait_for(lambda: unverified(token_of(server))[0]["kid"] == new_kid)
        with server.client() as client:
            assert client.get("/v2/", headers={"Authorization": f"Bearer {old}"}).status_code == 200

            unknown = dockyard("token", "retire", "NOPE:NOPE", *where, env=env)
            assert unknown.returncode == 1 and "no key with id" in unknown.stderr
            retired = dockyard("token", "retire", old_kid, *where, env=env)
            assert retired.returncode == 0, retired.stderr
            wait_for(lambda: client.get("/v2/", headers={"Authorization": f"Bearer {old}"})
                     .status_code == 401)  # fmt: skip
            last = dockyard("token", "retire", new_kid, *where, env=env)
            assert last.returncode == 1 and "last signing key" in last.stderr
            fresh = {"Authorization": f"Bearer {token_of(server)}"}
            assert client.get("/v2/", headers=fresh).status_code == 200


def test_rotate_needs_a_key_directory(tmp_path: Path) -> None:
    in_memory = dockyard("token", "rotate", env={"REGISTRY_STORAGE": "inmemory"})
    assert in_memory.returncode == 1 and "--keydir" in in_memory.stderr
    s3 = {
        "REGISTRY_STORAGE_S3_BUCKET": "b",
        "REGISTRY_DOCKYARD_DATABASE": "postgresql://x@127.0.0.1/x",
    }
    without = dockyard("token", "rotate", env=s3)
    assert without.returncode == 1 and "--keydir" in without.stderr
    explicit = dockyard("token", "rotate", "--keydir", str(tmp_path / "keys"), env=s3)
    assert explicit.returncode == 0 and explicit.stdout.count(":") == 11  # a libtrust key id
    assert (tmp_path / "keys").stat().st_mode & 0o777 == 0o700
    bad = dockyard("token", "rotate", "--keydir", str(tmp_path / "k2"), "--algorithm", "HS256")
    assert bad.returncode == 2 and "invalid choice" in bad.stderr
