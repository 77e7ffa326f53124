"""The admin CLI for groups, custom roles and personal access tokens, run against the database
of a real server that then honours what it made (and refuses what it revoked); bad arguments
and refusals end in one ``error:`` line and exit status 1."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest

from support.identity import Api, cli, identity_env, identity_server
from support.server import DOCKYARD, RunningServer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with identity_server(tmp_path_factory.mktemp("admin-cli")) as running:
        with Api(running) as admin:
            admin.user("gina", "gina-password")
            admin.user("hugo", "hugo-password")
            admin.project("crew")
        yield running


def run(server: RunningServer, *args: str) -> str:
    return cli(server.data_dir, identity_env(), *args)


def refused(server: RunningServer, *args: str) -> str:
    """Run a command that must fail: exit 1 and one ``error:`` line; its stderr."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")} | identity_env()
    done = subprocess.run(
        [DOCKYARD, *args, "--data-dir", str(server.data_dir)],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    assert done.stderr.startswith("error: ") and "Traceback" not in done.stderr, done.stderr
    return done.stderr


def wait_status(server: RunningServer, auth: tuple[str, str], status: int) -> None:
    """Changes made by the CLI reach the server within about a second."""
    deadline = time.monotonic() + 15
    while True:
        got = httpx.get(server.url + "/api/v1/me", auth=auth).status_code
        if got == status or time.monotonic() > deadline:
            assert got == status
            return
        time.sleep(0.2)


def test_groups(server: RunningServer) -> None:
    assert "created group crew-devs" in run(server, "group", "create", "crew-devs")
    run(server, "group", "create", "other-team", "--description", "not listed below")
    listed = run(server, "group", "list", "-q", "crew").splitlines()
    assert [line.split()[0] for line in listed[1:]] == ["crew-devs"]
    run(server, "group", "add-member", "crew-devs", "gina")
    assert run(server, "group", "members", "crew-devs").split() == ["gina"]
    run(server, "project", "add-member", "crew", "crew-devs", "--group", "--role", "developer")
    with Api(server, ("gina", "gina-password")) as gina:  # the group's role reaches gina
        assert gina.ok("GET", "/projects/crew")["name"] == "crew"
    run(server, "group", "remove-member", "crew-devs", "gina")
    assert run(server, "group", "members", "crew-devs").split() == []
    assert "not found" in refused(server, "group", "add-member", "crew-devs", "nobody")
    assert "not found" in refused(server, "group", "remove-member", "crew-devs", "gina")
    assert "exists" in refused(server, "group", "create", "crew-devs")
    assert "invalid group name" in refused(server, "group", "create", "bad!name")
    run(server, "group", "delete", "crew-devs")
    assert "not found" in refused(server, "group", "delete", "crew-devs")
    assert "crew-devs" not in run(server, "project", "members", "crew")


def test_custom_roles(server: RunningServer) -> None:
    made = run(server, "role", "create", "tagger", "--permission", "repository:pull",
               "--permission", "tag:delete", "--description", "pull and untag")  # fmt: skip
    assert "created role tagger: repository:pull tag:delete" in made
    rows = {line.split()[0]: line.split()[1:] for line in run(server, "role", "list").splitlines()}
    assert rows["tagger"] == ["custom", "repository:pull", "tag:delete"]
    assert rows["guest"][0] == "built-in" and "repository:pull" in rows["guest"]
    run(server, "project", "add-member", "crew", "hugo", "--role", "tagger")
    assert "still granted" in refused(server, "role", "delete", "tagger")
    assert "built-in" in refused(server, "role", "delete", "guest")
    assert "unknown permission" in refused(server, "role", "create", "wrong",
                                           "--permission", "repository:fly")  # fmt: skip
    assert "invalid role name" in refused(server, "role", "create", "Bad Name",
                                          "--permission", "repository:pull")  # fmt: skip
    member = next(line.split()[0] for line in run(server, "project", "members", "crew")
                  .splitlines() if " hugo " in line)  # fmt: skip
    run(server, "project", "remove-member", "crew", member)
    run(server, "role", "delete", "tagger")
    assert "tagger" not in run(server, "role", "list")
    assert "not found" in refused(server, "role", "delete", "tagger")


def test_personal_access_tokens(server: RunningServer) -> None:
    made = run(server, "access-token", "create", "gina", "ci", "--expires", "30d",
               "--permission", "repository:pull")  # fmt: skip
    fields = dict(line.split(":", 1) for line in made.splitlines() if ":" in line)
    token_id, secret = fields["id"].strip(), fields["token"].strip()
    assert secret.startswith(f"dyp_{token_id}_") and fields["user"].strip() == "gina"
    listed = run(server, "access-token", "list", "gina")
    assert token_id in listed and "repository:pull" in listed and secret not in listed
    me = httpx.get(server.url + "/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.status_code == 200 and me.json()["name"] == "gina"
    assert "not found" in refused(server, "access-token", "create", "nobody", "x")
    assert "not found" in refused(server, "access-token", "list", "nobody")
    make = ("access-token", "create", "gina", "x")
    assert "--expires" in refused(server, *make, "--expires", "soon")
    assert "366 days" in refused(server, *make, "--expires", "400d")
    assert "unknown permission" in refused(server, "access-token", "create", "gina", "x",
                                           "--permission", "repository:fly")  # fmt: skip
    run(server, "access-token", "revoke", token_id)
    wait_status(server, ("gina", secret), 401)
    assert token_id not in run(server, "access-token", "list", "gina")
    assert "not found" in refused(server, "access-token", "revoke", token_id)
    exported = run(server, "audit", "export", "--event", "token.").splitlines()
    events = [json.loads(x) for x in exported]
    created = [e for e in events if e["target"] == f"token:{token_id}"]
    assert [e["event"] for e in created] == ["token.create", "token.revoke"]
    assert created[0]["detail"] == {"name": "ci", "user": "gina"}
    assert created[0]["actor"].startswith("cli:") and created[0]["actor_kind"] == "system"
