"""htpasswd users with identity management on, against a real server: dropping a user from the
file revokes their personal access tokens and refresh tokens; changing their password revokes
their refresh tokens (as a local user's password change does)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import bcrypt
import httpx

from support.identity import Api, identity_server
from support.oci import assert_oci_error
from support.server import RunningServer


def line(user: str, password: str) -> str:
    return f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()}\n"


def replace(path: Path, text: str) -> None:
    fresh = path.with_suffix(".new")
    fresh.write_text(text)
    os.replace(fresh, path)


def refresh_token(server: RunningServer, user: str, password: str) -> str:
    params = {"service": "dockyard", "offline_token": "true"}
    got = httpx.get(server.url + "/token", params=params, auth=(user, password))
    assert got.status_code == 200, got.text
    return str(got.json()["refresh_token"])


def redeem(server: RunningServer, refresh: str) -> httpx.Response:
    form = {"grant_type": "refresh_token", "refresh_token": refresh, "service": "dockyard"}
    return httpx.post(server.url + "/token", data=form)


def access_token(server: RunningServer, user: str, password: str) -> str:
    with Api(server, (user, password)) as caller:
        return str(caller.ok("POST", "/tokens", 201, json={"name": "laptop"})["secret"])


def me(server: RunningServer, user: str, secret: str) -> int:
    return httpx.get(server.url + "/api/v1/me", auth=(user, secret)).status_code


def eventually(check: Callable[[], bool]) -> None:
    """The server looks at the file every 2 seconds and acts once a change has held still."""
    deadline = time.monotonic() + 20
    while not check():
        assert time.monotonic() < deadline, "not revoked in time"
        time.sleep(0.25)


def test_users_dropped_or_changed_in_the_file_lose_their_tokens(tmp_path: Path) -> None:
    path = tmp_path / "htpasswd"
    hank, ivy = line("hank", "hank-password"), line("ivy", "ivy-password")
    path.write_text(hank + ivy)
    env = {"REGISTRY_AUTH": "htpasswd", "REGISTRY_AUTH_HTPASSWD_PATH": str(path),
           "REGISTRY_DOCKYARD_TOKEN_ENABLED": "true"}  # fmt: skip
    with identity_server(tmp_path, **env) as server:
        hank_pat = access_token(server, "hank", "hank-password")
        ivy_pat = access_token(server, "ivy", "ivy-password")
        hank_refresh = refresh_token(server, "hank", "hank-password")
        ivy_refresh = refresh_token(server, "ivy", "ivy-password")
        assert redeem(server, hank_refresh).status_code == 200
        assert me(server, "hank", hank_pat) == 200
        time.sleep(5)  # the watch has compared this version of the file with the database
        replace(path, line("ivy", "ivy-new-password"))
        eventually(lambda: me(server, "hank", hank_pat) == 401)
        assert_oci_error(redeem(server, hank_refresh), 401, "UNAUTHORIZED")
        assert_oci_error(redeem(server, ivy_refresh), 401, "UNAUTHORIZED")
        assert me(server, "ivy", ivy_pat) == 200  # kept, as for a local password change
        assert me(server, "ivy", "ivy-new-password") == 200
        assert redeem(server, refresh_token(server, "ivy", "ivy-new-password")).status_code == 200
        with Api(server) as admin:
            tokens = admin.ok("GET", "/tokens", params={"user": "hank"})["items"]
            assert tokens == []
            events = admin.ok("GET", "/audit", params={"event": "user.tokens.revoke"})["items"]
            reasons = {e["target"]: e["detail"]["reason"] for e in events}
            assert reasons == {"user:hank": "removed from the htpasswd file",
                               "user:ivy": "password changed in the file"}  # fmt: skip
            assert {e["actor"] for e in events} == {"htpasswd"}
        replace(path, hank + line("ivy", "ivy-new-password"))  # hank is back: a fresh start
        eventually(lambda: me(server, "hank", "hank-password") == 200)
        assert me(server, "hank", hank_pat) == 401
