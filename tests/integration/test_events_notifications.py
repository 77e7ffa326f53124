"""registry:2 notifications from a real ``dockyard serve`` to a real receiver on loopback:
skopeo pushes, the server SIGKILLed between the write and the delivery with the receiver down,
every event arriving after the restart in order per repository; and the envelope compared
field by field with what Debian's ``docker-registry`` (Distribution 2.8) sends for the same
push."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from e2e.clientkit import Clients, OciLayout
from e2e.clientkit import make_image as make_layout_image
from support import postgres
from support.receiver import Receiver
from support.server import (
    DOCKYARD,
    RunningServer,
    free_port,
    start_server,
    stop_server,
    wait_for_http,
)

EVENTS_TYPE = "application/vnd.docker.distribution.events.v1+json"


def config(receiver: Receiver) -> str:
    return f"""
version: 0.1
storage:
  delete:
    enabled: true
notifications:
  events:
    includereferences: true
  endpoints:
    - name: ci
      url: {receiver.url}
      timeout: 2s
      backoff: 100ms
      headers:
        X-Token: [secret]
    - name: paused
      disabled: true
      url: http://127.0.0.1:9/never
dockyard:
  events:
    maxbackoff: 300ms
    poll: 100ms
"""


@pytest.fixture(params=["sqlite", "postgres"])
def database_env(request: pytest.FixtureRequest) -> dict[str, str]:
    if request.param == "sqlite":
        return {}
    if not postgres.available():
        pytest.skip("PostgreSQL not installed")
    return {"REGISTRY_DOCKYARD_DATABASE": postgres.shared_server().create_database("notify")}


def cli(data_dir: Path, env: dict[str, str], *args: str) -> list[dict[str, Any]]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")} | env
    result = subprocess.run(
        [DOCKYARD, "events", *args, "--data-dir", str(data_dir)],
        capture_output=True, text=True, timeout=60, check=False, env=full_env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def wait_until(check: Any, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def push(clients: Clients, layout: OciLayout, server: RunningServer, tag: str, dest: str) -> None:
    target = f"docker://127.0.0.1:{server.port}/{dest}"
    clients.skopeo("copy", "--dest-tls-verify=false", f"oci:{layout.path}:{tag}", target)


@pytest.mark.slow
def test_every_event_arrives_after_a_sigkill_with_the_receiver_down(
    tmp_path: Path, database_env: dict[str, str]
) -> None:
    receiver = Receiver()  # not listening yet: every attempt is refused
    layout = OciLayout(tmp_path / "layout")
    for number in range(3):
        layout.add_image(make_layout_image([{f"f{number}": b"x" * number}]), f"t{number}")
    clients = Clients(tmp_path / "clients")
    server = start_server(tmp_path, config=config(receiver), env=database_env)
    try:
        push(clients, layout, server, "t0", "team/app:1.0")
        push(clients, layout, server, "t1", "team/app:2.0")
        push(clients, layout, server, "t2", "other/x:1.0")
        with server.client() as client:
            assert client.delete("/v2/team/app/manifests/1.0").status_code == 202
        outbox = [e["event"] for e in cli(server.data_dir, database_env, "list")]
        manifests = [e for e in outbox if not e["kind"].startswith("blob.")]
        assert len(manifests) == 4  # three pushes, one deletion; the rest are blob pushes
        total = len(outbox)

        def attempted() -> bool:  # the first of each repository's lane has failed at least once
            found = cli(server.data_dir, database_env, "deliveries")
            tried = {d["repository"] for d in found if d["attempts"] >= 1}
            return len(found) == total and tried == {"team/app", "other/x"}

        wait_until(attempted)
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(10)
    finally:
        stop_server(server)
    receiver.start()
    try:
        again = start_server(
            tmp_path, config=config(receiver), env=database_env, data_dir=server.data_dir
        )
        try:
            got = receiver.wait_for(total)
            time.sleep(0.5)  # anything sent twice would arrive now
            history = cli(again.data_dir, database_env, "deliveries")
        finally:
            stop_server(again)
        got, received = receiver.events(), receiver.received
    finally:
        receiver.close()
    unique = {e["id"]: e for e in got}
    assert sorted(unique) == sorted(e["id"] for e in outbox)

    def lanes(ids: list[str], repos: list[str]) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for event_id, repo in zip(ids, repos, strict=True):
            if event_id not in found.get(repo, []):
                found.setdefault(repo, []).append(event_id)
        return found

    assert lanes([e["id"] for e in got], [e["target"]["repository"] for e in got]) == lanes(
        [e["id"] for e in outbox], [e["repository"] for e in outbox]
    )
    team_manifests = [e for e in unique.values() if (e["target"]["repository"] == "team/app"
                      and e["target"].get("mediaType", "").endswith("manifest.v1+json"))
                      or e["action"] == "delete"]  # fmt: skip
    assert [e["action"] for e in team_manifests] == ["push", "push", "delete"]
    assert {r.headers["X-Token"] for r in received} == {"secret"}
    assert {r.headers["Content-Type"] for r in received} == {EVENTS_TYPE}
    assert {(d["subscription"], d["state"]) for d in history} == {("notifications:ci", "delivered")}


def reference_registry(tmp_path: Path, receiver: Receiver) -> tuple[subprocess.Popen[bytes], int]:
    binary = shutil.which("docker-registry")
    assert binary, "docker-registry is missing: apt-get install docker-registry"
    port = free_port()
    path = tmp_path / "reference.yml"
    path.write_text(
        "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
        f"storage:\n  filesystem:\n    rootdirectory: {tmp_path / 'reference-root'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
        "notifications:\n  events:\n    includereferences: true\n"
        f"  endpoints:\n    - name: ci\n      url: {receiver.url}\n      timeout: 2s\n"
        "      threshold: 5\n      backoff: 100ms\n"
    )
    process = subprocess.Popen(
        [binary, "serve", str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    wait_for_http(f"http://127.0.0.1:{port}/v2/")
    return process, port


def _comparable(event: dict[str, Any], port: int) -> dict[str, Any]:
    """The event without what must differ: ids, times, instance, the registry's address."""
    text = json.dumps(event).replace(f"127.0.0.1:{port}", "REGISTRY")
    found = json.loads(text)
    del found["id"], found["timestamp"], found["source"]["instanceID"]
    found["request"].pop("id")
    found["request"]["addr"] = found["request"]["addr"].rsplit(":", 1)[0]  # client port
    found["source"]["addr"] = "node"
    return dict(found)


def tagged_pushes(receiver: Receiver) -> list[dict[str, Any]]:
    """The manifest pushes by tag (registry:2 also sends blob pushes)."""
    return [e for e in receiver.events() if e["action"] == "push" and e["target"].get("tag")]


def test_the_envelope_matches_docker_registry_field_by_field(tmp_path: Path) -> None:
    theirs, ours = Receiver().start(), Receiver().start()
    layout = OciLayout(tmp_path / "layout")
    layout.add_image(make_layout_image([{"a": b"one"}, {"b": b"two"}]), "v1")
    clients = Clients(tmp_path / "clients")
    process, port = reference_registry(tmp_path, theirs)
    try:
        with_ref = f"docker://127.0.0.1:{port}/team/app:v1"
        clients.skopeo("copy", "--dest-tls-verify=false", f"oci:{layout.path}:v1", with_ref)
        server = start_server(tmp_path, config=config(ours))
        try:
            push(clients, layout, server, "v1", "team/app:v1")
            wait_until(lambda: tagged_pushes(ours))
            (mine,) = tagged_pushes(ours)
            wait_until(lambda: tagged_pushes(theirs))
            (reference,) = tagged_pushes(theirs)
            content_types = {r.headers["Content-Type"] for r in theirs.received}
        finally:
            stop_server(server)
    finally:
        process.terminate()
        process.wait(10)
        theirs.close()
        ours.close()
    assert _comparable(mine, server.port) == _comparable(reference, port)
    assert list(mine) == list(reference), "the same fields in the same order"
    assert list(mine["target"]) == list(reference["target"])
    assert content_types == {EVENTS_TYPE}
