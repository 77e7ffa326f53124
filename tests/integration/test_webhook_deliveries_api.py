"""A webhook's delivery history, dead letters and replay through /api/v1 and the CLI, against a
real server whose delivery engine sends real pushes to a real receiver on loopback: keyset
pages newest first, the dead-letter list, replay of one and of all (the same event id
arrives), who may, bad input in the error envelope, the OpenAPI document, the audit log."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from support import postgres
from support.hook_receiver import Receiver, receiver
from support.identity import Api, cli, identity_env, identity_server
from support.oci import assert_oci_error, make_image, push_image
from support.server import RunningServer

ALICE, BOB, CAROL = ("alice", "alice-password"), ("bob", "bob-password"), ("carol", "carol-pw-1")
HOOKS = "/projects/team/webhooks"


@pytest.fixture(scope="module")
def hook_receiver() -> Iterator[Receiver]:
    with receiver() as made:
        made.status = 500  # every delivery fails until a test says otherwise
        yield made


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> dict[str, str]:
    """The metadata database the server and the CLI share: SQLite, or a fresh PostgreSQL one."""
    if request.param == "sqlite":
        return {}
    if not postgres.available():
        pytest.skip("PostgreSQL is not installed (scripts/bootstrap --test)")
    return {"REGISTRY_DOCKYARD_DATABASE": postgres.shared_server().create_database("hooks")}


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, backend: dict[str, str]
) -> Iterator[RunningServer]:
    workdir = tmp_path_factory.mktemp("webhook-deliveries")
    with identity_server(workdir, **backend) as running:
        with Api(running) as admin:
            for name, password in (ALICE, BOB, CAROL):
                admin.user(name, password)
            admin.project("team")
            admin.project("other")
            admin.member("team", "alice", "admin")
            admin.member("team", "bob", "developer")
            admin.member("other", "carol", "admin")
        yield running


def _until(check: Callable[[], Any], what: str, seconds: float = 60) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def dead_hook(server: RunningServer, hook_receiver: Receiver) -> dict[str, Any]:
    """A webhook that gives up after one attempt, and three pushes it failed to take."""
    with Api(server, ALICE) as alice:
        body = {"name": "flaky", "url": hook_receiver.url + "/flaky",
                "event_types": ["manifest.pushed"], "max_attempts": 1}  # fmt: skip
        hook: dict[str, Any] = alice.ok("POST", HOOKS, 201, json=body)["webhook"]
        time.sleep(2.5)  # the engine re-reads the webhooks every 2 s
        with httpx.Client(base_url=server.url, auth=ALICE, timeout=30) as client:
            for tag in ("v1", "v2", "v3"):
                push_image(client, "team/app", make_image(layers=1), tag=tag)
        path = f"{HOOKS}/{hook['id']}/deliveries"

        def three_dead() -> bool:
            items = alice.ok("GET", path, params={"status": "dead"})["items"]
            return len(items) == 3

        _until(three_dead, "three dead letters")
    hook_receiver.taken()
    return hook


def test_history_pages_newest_first_with_attempts_and_last_answer(
    server: RunningServer, dead_hook: dict[str, Any]
) -> None:
    path = f"{HOOKS}/{dead_hook['id']}/deliveries"
    with Api(server, ALICE) as alice:
        first = alice.ok("GET", path, params={"limit": 2})
        assert len(first["items"]) == 2 and first["next"] is not None
        second = alice.ok("GET", path, params={"limit": 2, "cursor": first["next"]})
        assert len(second["items"]) == 1 and second["next"] is None
    ids = [d["id"] for d in first["items"] + second["items"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 3
    for delivery in first["items"] + second["items"]:
        assert delivery["status"] == "dead" and delivery["attempts"] == 1
        assert delivery["last_status_code"] == 500 and delivery["last_error"] == "HTTP 500"
        assert delivery["event_type"] == "manifest.pushed"
        assert delivery["repository"] == "team/app"
        assert delivery["finished_at"] and delivery["next_attempt_at"] is None
    with Api(server, ALICE) as alice:
        one = alice.ok("GET", f"{path}/{ids[0]}")
        assert one == first["items"][0]
        assert alice.ok("GET", path, params={"status": "delivered"})["items"] == []


def test_bad_queries_and_strangers_get_the_error_envelope(
    server: RunningServer, dead_hook: dict[str, Any]
) -> None:
    path = f"{HOOKS}/{dead_hook['id']}/deliveries"
    with Api(server, ALICE) as alice:
        newest = alice.ok("GET", path)["items"][0]["id"]
        assert_oci_error(alice.http.get(path, params={"status": "lost"}), 400, "BAD_REQUEST")
        assert_oci_error(alice.http.get(path, params={"cursor": "abc"}), 400, "BAD_REQUEST")
        assert_oci_error(alice.http.get(path, params={"limit": "0"}), 400, "BAD_REQUEST")
        assert_oci_error(alice.http.get(f"{path}/999999"), 404, "NOT_FOUND")
        assert_oci_error(alice.http.post(f"{path}/999999/replay"), 404, "NOT_FOUND")
        assert_oci_error(alice.http.get(f"{HOOKS}/999999/deliveries"), 404, "NOT_FOUND")
        other = f"/projects/other/webhooks/{dead_hook['id']}/deliveries"  # not other's webhook
    with Api(server) as admin:
        assert_oci_error(admin.http.get(other), 404, "NOT_FOUND")
    with Api(server, None) as anonymous:
        assert_oci_error(anonymous.http.get(path), 401, "UNAUTHORIZED")
    with Api(server, BOB) as bob:  # a developer of the project
        assert_oci_error(bob.http.get(path), 403, "DENIED")
        assert_oci_error(bob.http.post(f"{path}/{newest}/replay"), 403, "DENIED")
        assert_oci_error(bob.http.post(f"{path}/replay"), 403, "DENIED")
    with Api(server, CAROL) as carol:  # administrator of another project
        assert_oci_error(carol.http.get(path), 404, "NOT_FOUND")
        assert_oci_error(carol.http.post(f"{path}/replay"), 404, "NOT_FOUND")
    with Api(server, ALICE) as alice:
        assert alice.ok("GET", f"{path}/{newest}")["status"] == "dead"  # nothing replayed


def test_replay_one_then_all_delivers_the_same_event_ids(
    server: RunningServer, dead_hook: dict[str, Any], hook_receiver: Receiver
) -> None:
    path = f"{HOOKS}/{dead_hook['id']}/deliveries"
    hook_receiver.status = 200
    try:
        with Api(server, ALICE) as alice:
            dead = alice.ok("GET", path, params={"status": "dead"})["items"]
            replayed = alice.ok("POST", f"{path}/{dead[0]['id']}/replay")
            assert replayed["status"] in {"pending", "delivered"}
            assert replayed["event_id"] == dead[0]["event_id"]
            got = _until(hook_receiver.taken, "the replayed delivery")
            assert [r.headers["webhook-id"] for r in got] == [dead[0]["event_id"]]
            delivered = _until(
                lambda: alice.ok("GET", f"{path}/{dead[0]['id']}")["status"] == "delivered",
                "the delivery's state",
            )
            assert delivered
            again = alice.http.post(f"{path}/{dead[0]['id']}/replay")  # delivered: not dead
            assert_oci_error(again, 409, "CONFLICT")
            assert alice.ok("POST", f"{path}/replay") == {"replayed": 2}
            rest: list[Any] = []
            _until(lambda: rest.extend(hook_receiver.taken()) or len(rest) >= 2, "two more")
            assert sorted(r.headers["webhook-id"] for r in rest) == sorted(
                d["event_id"] for d in dead[1:]
            )
            assert alice.ok("POST", f"{path}/replay") == {"replayed": 0}
        with Api(server) as admin:
            target = "webhook:team/flaky"
            entries = admin.ok("GET", "/audit", params={"target": target})["items"]
        replays = [e for e in entries if e["event"] == "webhook.replay"]
        assert {e["outcome"] for e in replays} >= {"success"} and len(replays) >= 3
    finally:
        hook_receiver.status = 500


def test_cli_lists_and_replays_a_webhooks_dead_letters(
    server: RunningServer, hook_receiver: Receiver, backend: dict[str, str]
) -> None:
    data, env = server.data_dir, identity_env(**backend)
    cli(data, env, "webhook", "create", "team", "cli-flaky", "--url", hook_receiver.url + "/c",
        "--event", "manifest.pushed", "--max-attempts", "1")  # fmt: skip
    time.sleep(2.5)
    with httpx.Client(base_url=server.url, auth=ALICE, timeout=30) as client:
        push_image(client, "team/cli", make_image(layers=1), tag="v1")

    def dead_lines() -> list[dict[str, Any]]:
        out = cli(data, env, "webhook", "deliveries", "team", "cli-flaky", "--status", "dead")
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    (dead,) = _until(dead_lines, "a dead letter in the CLI")
    assert dead["state"] == "dead" and dead["last_status"] == 500
    hook_receiver.taken()
    hook_receiver.status = 200
    try:
        out = cli(data, env, "webhook", "replay", "team", "cli-flaky", str(dead["id"]))
        assert "pending again" in out
        got = _until(hook_receiver.taken, "the replayed delivery")
        assert [r.headers["webhook-id"] for r in got] == [dead["event_id"]]
        assert "0 dead" in cli(data, env, "webhook", "replay", "team", "cli-flaky", "--dead")
    finally:
        hook_receiver.status = 500


def test_openapi_documents_the_delivery_endpoints(server: RunningServer) -> None:
    with Api(server) as admin:
        doc = admin.http.get("/openapi.json").json()
    base = "/api/v1/projects/{project}/webhooks/{id}/deliveries"
    paths = doc["paths"]
    assert set(paths[base]) == {"get"}
    assert "status" in [p["name"] for p in paths[base]["get"]["parameters"]]
    assert set(paths[base + "/{delivery}"]) == {"get"}
    assert "post" in paths[base + "/{delivery}/replay"] and "post" in paths[base + "/replay"]
    assert {"WebhookDelivery", "Replayed"} <= set(doc["components"]["schemas"])
