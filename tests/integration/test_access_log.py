"""The access log through a real ``dockyard serve``: line content, request ids, clean stops."""

from __future__ import annotations

import json
import signal
import socket
import time
from pathlib import Path
from typing import Any

from support.identity import identity_env
from support.oci import make_image, push_image
from support.server import RunningServer, serving, start_server

OUR_ID_LENGTH = 16  # api/request_id.py: 8 random hex digits and an 8-digit counter


def access_lines(server: RunningServer) -> list[dict[str, Any]]:
    lines = [json.loads(x) for x in server.log().splitlines() if x.startswith("{")]
    return [x for x in lines if x.get("logger") == "dockyard.access"]


def wait_for_line(server: RunningServer, **wanted: object) -> dict[str, Any]:
    """The access line whose fields include ``wanted`` (lines are written in short batches)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for line in access_lines(server):
            if all(line.get(k) == v for k, v in wanted.items()):
                return line
        time.sleep(0.02)
    raise AssertionError(f"no access log line with {wanted}:\n{server.log()[-3000:]}")


def raw_get(server: RunningServer, path: str, header_value: bytes) -> tuple[int, bytes]:
    """A GET with ``X-Request-Id: header_value`` sent byte for byte (httpx refuses some)."""
    request = (
        b"GET " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"X-Request-Id: " + header_value + b"\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head = answer.split(b"\r\n\r\n", 1)[0]
    return int(head.split(b" ", 2)[1]), head


def echoed_id(head: bytes) -> str:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"x-request-id":
            return value.strip().decode()
    raise AssertionError(f"no X-Request-Id in {head!r}")


def test_manifest_get_line_has_every_field_in_order(tmp_path: Path) -> None:
    env = {"REGISTRY_LOG_FIELDS_SERVICE": "registry"}
    with serving(tmp_path, env=env) as server, server.client() as client:
        push_image(client, "logged/app", make_image(), tag="v1")
        headers = {"X-Request-Id": "client.id-1_~"}
        response = client.get("/v2/logged/app/manifests/v1", headers=headers)
        assert response.status_code == 200
        assert response.headers["X-Request-Id"] == "client.id-1_~"
        line = wait_for_line(server, request_id="client.id-1_~")
    assert list(line) == [
        "time", "level", "logger", "msg", "service", "request_id", "method", "route", "path",
        "repository", "status", "bytes_in", "bytes_out", "duration_ms", "user", "remote",
    ]  # fmt: skip
    assert line["level"] == "info" and line["msg"] == "request"
    assert line["service"] == "registry"
    assert (line["method"], line["route"], line["status"]) == ("GET", "manifest", 200)
    assert line["path"] == "/v2/logged/app/manifests/v1"
    assert line["repository"] == "logged/app"
    assert line["bytes_out"] == len(response.content) and line["bytes_in"] == 0
    assert line["remote"] == "127.0.0.1" and line["user"] == ""  # anonymous
    assert line["time"].endswith("Z") and len(line["time"]) == len("2026-01-01T00:00:00.000Z")


def test_a_10_kib_request_id_is_replaced_by_our_own(tmp_path: Path) -> None:
    huge = "a" * 10 * 1024
    with serving(tmp_path) as server, server.client() as client:
        response = client.get("/v2/", headers={"X-Request-Id": huge})
        ours = response.headers["X-Request-Id"]
        assert response.status_code == 200
        assert len(ours) == OUR_ID_LENGTH and ours != huge[:OUR_ID_LENGTH]
        wait_for_line(server, request_id=ours)
        at_limit = "b" * 128
        response = client.get("/v2/", headers={"X-Request-Id": at_limit})
        assert response.headers["X-Request-Id"] == at_limit
        wait_for_line(server, request_id=at_limit)
        assert "a" * 129 not in server.log()


def test_request_ids_with_quotes_or_spaces_are_replaced(tmp_path: Path) -> None:
    hostile = [
        b'say "hi"',
        b"tab\there",
        b"two words",
        b'{"forged":1}',
        b"semi;colon",
        b"\xc3\xa9t\xc3\xa9",
    ]
    with serving(tmp_path) as server:
        for value in hostile:
            status, head = raw_get(server, "/v2/hostile/repo/tags/list", value)
            assert status == 404, value
            ours = echoed_id(head)
            assert len(ours) == OUR_ID_LENGTH and all(c in "0123456789abcdef" for c in ours)
            assert wait_for_line(server, request_id=ours)["status"] == 404
        log = server.log()
    assert '\\"hi' not in log and "forged" not in log and "semi;colon" not in log


def test_request_ids_with_control_characters_never_reach_the_log(tmp_path: Path) -> None:
    """granian refuses these header values itself (400); unit tests cover the app's own check
    (tests/unit/api/test_access_log_format.py), for servers that let them through."""
    hostile = [b"esc\x1b[31mred", b"del\x7f", b"bell\x07", b"cr\rx", b"fold\r\n injected: 1"]
    with serving(tmp_path) as server:
        for value in hostile:
            status, head = raw_get(server, "/v2/hostile/repo/tags/list", value)
            if status != 400:
                assert len(echoed_id(head)) == OUR_ID_LENGTH
        with server.client() as client:
            client.get("/v2/", headers={"X-Request-Id": "after-hostile"})
        wait_for_line(server, request_id="after-hostile")
        log = server.log()
    assert not any(c in log for c in "\x1b\x07\x7f\r") and "injected" not in log


def test_openapi_document_is_logged_as_200(tmp_path: Path) -> None:
    with serving(tmp_path, env=identity_env()) as server, server.client() as client:
        response = client.get("/api/v1/openapi.json", headers={"X-Request-Id": "openapi-1"})
        assert response.status_code == 200 and response.json()["openapi"]
        line = wait_for_line(server, request_id="openapi-1")
    assert line["status"] == 200 and line["path"] == "/api/v1/openapi.json"
    assert line["bytes_out"] == len(response.content)


def test_every_served_request_is_in_the_log_after_sigterm(tmp_path: Path) -> None:
    server = start_server(tmp_path)
    try:
        with server.client() as client:
            ids = [f"before-stop-{n}" for n in range(300)]
            for request_id in ids:
                client.head("/v2/", headers={"X-Request-Id": request_id})
        server.process.send_signal(signal.SIGTERM)  # at once: the last batch is still pending
        assert server.process.wait(30) == 0
    finally:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait(5)
    logged = {line["request_id"] for line in access_lines(server)}
    assert [i for i in ids if i not in logged] == []


def test_access_log_disabled_writes_no_lines(tmp_path: Path) -> None:
    env = {"REGISTRY_LOG_ACCESSLOG_DISABLED": "true"}
    with serving(tmp_path, env=env) as server, server.client() as client:
        client.get("/v2/", headers={"X-Request-Id": "unlogged"})
    assert "unlogged" not in server.log()
