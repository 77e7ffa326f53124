"""Project webhooks through /api/v1 and the CLI against a real server, with a real receiver
on loopback: CRUD and who may do it (in the error envelope), the checks on what is saved,
the signed test event verified by the independent ``standardwebhooks`` package, secret
rotation, and the audit log."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from support.hook_receiver import Receiver, receiver
from support.identity import Api, cli, identity_env, identity_server
from support.oci import assert_oci_error, make_image, push_image
from support.server import DOCKYARD, RunningServer, free_port

ALICE, BOB, CAROL = ("alice", "alice-password"), ("bob", "bob-password"), ("carol", "carol-pw-1")
HOOKS = "/projects/team/webhooks"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    workdir = tmp_path_factory.mktemp("webhooks")
    with identity_server(workdir, REGISTRY_HTTP_HOST="https://registry.example") as running:
        with Api(running) as admin:
            for name, password in (ALICE, BOB, CAROL):
                admin.user(name, password)
            admin.project("team")
            admin.project("other")
            admin.member("team", "alice", "admin")
            admin.member("team", "bob", "developer")
            admin.member("other", "carol", "admin")
        yield running


@pytest.fixture
def hook_receiver() -> Iterator[Receiver]:
    with receiver() as made:
        yield made


def new_hook(api: Api, url: str, name: str, **extra: Any) -> dict[str, Any]:
    body = {"name": name, "url": url, "event_types": ["manifest.pushed"], **extra}
    made: dict[str, Any] = api.ok("POST", HOOKS, 201, json=body)
    return made


def test_create_read_change_delete(server: RunningServer, hook_receiver: Receiver) -> None:
    with Api(server, ALICE) as alice:
        made = new_hook(alice, hook_receiver.url + "/ci", "crud",
                        headers={"X-Ci-Token": "s3cret-value"}, tags=["v*"])  # fmt: skip
        hook, secret = made["webhook"], made["secret"]
        assert secret.startswith("whsec_")
        assert hook["payload_format"] == "cloudevents" and hook["header_names"] == ["X-Ci-Token"]
        assert (hook["max_attempts"], hook["timeout_seconds"]) == (10, 10.0)  # the defaults
        path = f"{HOOKS}/{hook['id']}"
        shown = alice.http.get(path)
        assert shown.status_code == 200 and shown.json()["name"] == "crud"
        listed = alice.http.get(HOOKS)
        for text in (shown.text, listed.text):  # never a secret or a header value again
            assert "whsec_" not in text and "s3cret-value" not in text
        assert hook["id"] in [h["id"] for h in listed.json()["items"]]
        searched = alice.ok("GET", HOOKS, params={"q": "cru", "limit": 1})
        assert [h["id"] for h in searched["items"]] == [hook["id"]] and searched["next"] is None
        changed = alice.ok("PATCH", path, json={"enabled": False, "event_types": ["tag.deleted"]})
        assert changed["enabled"] is False and changed["event_types"] == ["tag.deleted"]
        assert changed["url"] == hook["url"] and changed["tags"] == ["v*"]
        alice.ok("DELETE", path, 204)
        assert_oci_error(alice.http.get(path), 404, "NOT_FOUND")
        assert_oci_error(alice.http.get(f"{HOOKS}/not-a-number"), 404, "NOT_FOUND")


def test_only_project_and_system_administrators_manage_webhooks(
    server: RunningServer, hook_receiver: Receiver
) -> None:
    with Api(server) as admin:
        hook = new_hook(admin, hook_receiver.url, "by-admin")["webhook"]
    path = f"{HOOKS}/{hook['id']}"
    body = {"name": "x", "url": hook_receiver.url, "event_types": ["manifest.pushed"]}
    with Api(server, None) as anonymous:
        assert_oci_error(anonymous.http.get(HOOKS), 401, "UNAUTHORIZED")
        assert_oci_error(anonymous.http.post(HOOKS, json=body), 401, "UNAUTHORIZED")
    with Api(server, BOB) as bob:  # a developer of the project
        assert_oci_error(bob.http.get(HOOKS), 403, "DENIED")
        assert_oci_error(bob.http.get(path), 403, "DENIED")
        assert_oci_error(bob.http.post(HOOKS, json=body), 403, "DENIED")
        assert_oci_error(bob.http.delete(path), 403, "DENIED")
        assert_oci_error(bob.http.post(path + "/test"), 403, "DENIED")
    with Api(server, CAROL) as carol:  # administrator of another project
        assert_oci_error(carol.http.get(HOOKS), 404, "NOT_FOUND")
        assert_oci_error(carol.http.patch(path, json={"enabled": False}), 404, "NOT_FOUND")
        assert_oci_error(carol.http.post(path + "/secret"), 404, "NOT_FOUND")
    assert hook_receiver.taken() == []
    with Api(server, ALICE) as alice:
        assert alice.ok("GET", path)["enabled"] is True  # nothing changed
        alice.ok("DELETE", path, 204)
    with Api(server) as admin:
        refused = admin.ok("GET", "/audit", params={"event": "webhook.delete", "actor": "bob"})
        assert [e["outcome"] for e in refused["items"]] == ["failure"]


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"url": "not a url"}, "only http and https"),
        ({"url": "http://169.254.169.254/latest/meta-data"}, "metadata"),
        ({"url": "http://169.254.1.1/hook"}, "link-local"),
        ({"payload_format": "yaml"}, "unknown format"),
        ({"headers": {"X-Long": "x" * 2000}}, "longer than"),
        ({"event_types": []}, "event types"),
        ({"surprise": True}, "invalid body"),
        ({"max_attempts": "ten"}, "invalid body"),
    ],
)
def test_bad_webhooks_are_refused_with_400(
    server: RunningServer, changes: dict[str, Any], needle: str
) -> None:
    body = {"name": "bad", "url": "http://127.0.0.1:9/x", "event_types": ["manifest.pushed"]}
    with Api(server, ALICE) as alice:
        error = assert_oci_error(alice.http.post(HOOKS, json={**body, **changes}), 400,
                                 "BAD_REQUEST")  # fmt: skip
        assert needle in error["message"], error
        assert all(h["name"] != "bad" for h in alice.ok("GET", HOOKS)["items"])


def _verify(secret: str, received: Any) -> Any:
    return Webhook(secret).verify(received.body, received.headers)


def test_the_test_event_arrives_signed(server: RunningServer, hook_receiver: Receiver) -> None:
    with Api(server, ALICE) as alice:
        made = new_hook(alice, hook_receiver.url + "/in", "pinged", headers={"X-Team": "team"})
        path = f"{HOOKS}/{made['webhook']['id']}"
        answer = alice.ok("POST", path + "/test")
    assert answer["delivered"] is True and answer["status_code"] == 200 and answer["error"] == ""
    (got,) = hook_receiver.taken()
    assert got.path == "/in" and got.headers["x-team"] == "team"
    assert got.headers["webhook-id"] == answer["event_id"]
    assert got.headers["content-type"].startswith("application/cloudevents+json")
    body = _verify(made["secret"], got)  # the independent implementation accepts it
    assert body["type"] == "io.dockyard.ping" and body["id"] == answer["event_id"]
    assert body["specversion"] == "1.0" and body["source"] == "https://registry.example"
    assert body["data"]["actor"] == "alice"
    with pytest.raises(WebhookVerificationError):
        Webhook(made["secret"]).verify(got.body + b"x", got.headers)
    outbox = cli(server.data_dir, identity_env(), "events", "list", "--limit", "1000")
    assert answer["event_id"] not in outbox and "ping" not in outbox  # never stored


def test_the_test_event_reports_what_the_receiver_did(
    server: RunningServer, hook_receiver: Receiver
) -> None:
    with Api(server, ALICE) as alice:
        made = new_hook(alice, hook_receiver.url + "/harbor", "answers", payload_format="harbor")
        path = f"{HOOKS}/{made['webhook']['id']}"
        hook_receiver.status = 500
        failed = alice.ok("POST", path + "/test")
        assert (failed["delivered"], failed["status_code"]) == (False, 500)
        hook_receiver.status = 302  # answered, not followed
        moved = alice.ok("POST", path + "/test")
        assert (moved["delivered"], moved["status_code"]) == (False, 302)
        received = hook_receiver.taken()
        assert [r.path for r in received] == ["/harbor", "/harbor"]  # never "/moved"
        harbor = _verify(made["secret"], received[0])
        assert harbor["type"] == "PING" and harbor["operator"] == "alice"
        assert harbor["event_data"]["repository"]["namespace"] == "team"
        by_name = hook_receiver.url.replace("127.0.0.1", "localhost") + "/named"
        alice.ok("PATCH", path, json={"url": by_name})
        hook_receiver.status = 200
        named = alice.ok("POST", path + "/test")  # sent to the address the guard checked
        assert named["delivered"] is True, named
        (got,) = hook_receiver.taken()
        assert got.path == "/named" and got.headers["host"] == by_name.split("/")[2]
        closed = f"http://127.0.0.1:{free_port()}/gone"
        alice.ok("PATCH", path, json={"url": closed})
        gone = alice.ok("POST", path + "/test")
        assert gone["delivered"] is False and gone["status_code"] is None and gone["error"]


def test_rotation_signs_with_both_secrets_during_the_overlap_only(
    server: RunningServer, hook_receiver: Receiver
) -> None:
    with Api(server, ALICE) as alice:
        made = new_hook(alice, hook_receiver.url, "rotated")
        path, first = f"{HOOKS}/{made['webhook']['id']}", made["secret"]
        rotated = alice.ok("POST", path + "/secret", json={"overlap_seconds": 3600})
        second = rotated["secret"]
        assert second != first and rotated["webhook"]["previous_secret_until"]
        assert "whsec_" not in alice.http.get(path).text
        alice.ok("POST", path + "/test")
        (during,) = hook_receiver.taken()
        assert len(during.headers["webhook-signature"].split(" ")) == 2
        _verify(first, during)
        _verify(second, during)
        third = alice.ok("POST", path + "/secret", json={"overlap_seconds": 0})["secret"]
        alice.ok("POST", path + "/test")
        (after,) = hook_receiver.taken()
        _verify(third, after)
        for old in (first, second):
            with pytest.raises(WebhookVerificationError):
                _verify(old, after)
        bad = alice.http.post(path + "/secret", json={"overlap_seconds": -5})
        assert_oci_error(bad, 400, "BAD_REQUEST")
        alice.ok("POST", path + "/secret")  # no body: the configured overlap (24 h)
        alice.ok("POST", path + "/test")
        assert len(hook_receiver.taken()[0].headers["webhook-signature"].split(" ")) == 2


def test_openapi_documents_the_webhook_endpoints(server: RunningServer) -> None:
    with Api(server) as admin:
        doc = admin.http.get("/openapi.json").json()
    paths = doc["paths"]
    assert set(paths["/api/v1/projects/{project}/webhooks"]) == {"get", "post"}
    assert set(paths["/api/v1/projects/{project}/webhooks/{id}"]) == {"get", "patch", "delete"}
    for action in ("test", "secret"):
        assert "post" in paths[f"/api/v1/projects/{{project}}/webhooks/{{id}}/{action}"]
    assert {"Webhook", "NewWebhook", "WebhookSecret", "WebhookTest"} <= set(
        doc["components"]["schemas"]
    )


def test_cli_manages_webhooks_and_is_audited(
    server: RunningServer, hook_receiver: Receiver
) -> None:
    data, env = server.data_dir, identity_env()
    made = cli(data, env, "webhook", "create", "team", "from-cli", "--url", hook_receiver.url,
               "--event", "manifest.pushed", "--event", "tag.deleted", "--format", "harbor",
               "--header", "X-Source: cli", "--tag", "v*")  # fmt: skip
    secret = next(line.split()[1] for line in made.splitlines() if line.startswith("secret:"))
    listed = cli(data, env, "webhook", "list", "team")
    assert "from-cli" in listed and "harbor" in listed and "whsec_" not in listed
    tested = cli(data, env, "webhook", "test", "team", "from-cli")
    assert tested.startswith("event ") and " 200" in tested
    (got,) = hook_receiver.taken()
    assert _verify(secret, got)["type"] == "PING" and got.headers["x-source"] == "cli"
    rotated = cli(data, env, "webhook", "rotate-secret", "team", "from-cli", "--overlap", "1h")
    new_secret = rotated.split()[1]
    cli(data, env, "webhook", "test", "team", "from-cli")
    (both,) = hook_receiver.taken()
    _verify(secret, both)
    _verify(new_secret, both)
    updated = cli(data, env, "webhook", "update", "team", "from-cli", "--disable")
    assert "disabled" in updated
    cli(data, env, "webhook", "delete", "team", "from-cli")
    assert "from-cli" not in cli(data, env, "webhook", "list", "team")
    with Api(server) as admin:
        entries = admin.ok("GET", "/audit", params={"target": "webhook:team/from-cli"})["items"]
    events = {e["event"] for e in entries if e["actor"].startswith("cli:")}
    assert {"webhook.create", "webhook.test", "webhook.secret", "webhook.update",
            "webhook.delete"} <= events  # fmt: skip
    created = next(e for e in entries if e["event"] == "webhook.create")
    assert created["detail"]["header_names"] == ["X-Source"]  # names only, never values
    assert "headers" not in created["detail"] and ": cli" not in json.dumps(created["detail"])


def test_cli_refuses_what_the_api_refuses(server: RunningServer) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    done = subprocess.run(
        [DOCKYARD, "webhook", "create", "team", "meta", "--url", "http://169.254.169.254/",
         "--event", "manifest.pushed", "--data-dir", str(server.data_dir)],
        capture_output=True, text=True, timeout=60, check=False, env=env | identity_env(),
    )  # fmt: skip
    assert done.returncode == 1 and "metadata" in done.stderr, done


def _wait_for(hook_receiver: Receiver, count: int) -> list[Any]:
    found: list[Any] = []
    deadline = time.monotonic() + 60
    while len(found) < count and time.monotonic() < deadline:
        found += hook_receiver.taken()
        time.sleep(0.1)
    return found


def test_pushes_reach_project_webhooks_through_the_delivery_engine(
    server: RunningServer, hook_receiver: Receiver
) -> None:
    """The engine of the running server delivers real events to project webhooks: one in
    CloudEvents, one in registry:2's envelope, each signed, each only for its filters."""
    with Api(server, ALICE) as alice:
        cloud = new_hook(alice, hook_receiver.url + "/cloud", "cloud", tags=["v*"])
        envelope = new_hook(alice, hook_receiver.url + "/envelope", "envelope",
                            payload_format="distribution", repositories=["engine"])  # fmt: skip
    time.sleep(2.5)  # the engine re-reads the webhooks every 2 s
    image = make_image(layers=1)
    with httpx.Client(base_url=server.url, auth=ALICE, timeout=30) as client:
        push_image(client, "team/engine", image, tag="v1")
        push_image(client, "team/engine", make_image(layers=1), tag="latest")  # no v*: cloud skips
    got = {r.path: r for r in _wait_for(hook_receiver, 3)}
    assert sorted(got) == ["/cloud", "/envelope"], "cloud once (v1 only), envelope for both"
    body = _verify(cloud["secret"], got["/cloud"])
    assert body["type"] == "io.dockyard.manifest.pushed"
    assert body["data"]["target"]["digest"] == image.digest
    enveloped = _verify(envelope["secret"], got["/envelope"])
    assert (
        got["/envelope"]
        .headers["content-type"]
        .startswith("application/vnd.docker.distribution.events.v1+json")
    )
    (event,) = enveloped["events"]
    assert event["action"] == "push" and event["target"]["repository"] == "team/engine"
    assert event["actor"]["name"] == "alice" and event["request"]["method"] == "PUT"
