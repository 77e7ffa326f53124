"""Request bodies that stall (``dockyard.uploads.bodytimeout``), on both servers; and the
default session caps, which a busy CI does not reach.

A raw socket sends the headers and part of a body, then nothing: the server must answer 408
(and close) instead of holding the request open, keep the bytes that arrived in the session
(so status tells the truth and the client can resume) and publish nothing.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from support.oci import push_blob, sha256
from support.server import RunningServer, serving

BODY_TIMEOUT = "1s"
ANSWER_WAIT = 60.0  # generous bound on how long a test waits for the server's answer


@pytest.fixture(scope="module", params=["granian", "uvicorn"])
def stall_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    workdir: Path = tmp_path_factory.mktemp(f"stalls-{request.param}")
    env = {"REGISTRY_DOCKYARD_UPLOADS_BODYTIMEOUT": BODY_TIMEOUT}
    with serving(workdir, env=env, server=request.param) as running:
        yield running


@pytest.fixture
def client(stall_server: RunningServer) -> Iterator[httpx.Client]:
    with stall_server.client() as http:
        yield http


def stalled_request(
    server: RunningServer, method: str, target: str, headers: dict[str, str], body: bytes
) -> tuple[int, dict[str, str], bytes]:
    """Send ``body`` as the start of a longer one (Content-Length says 1 MiB more), then wait."""
    head = [f"{method} {target} HTTP/1.1", f"Host: 127.0.0.1:{server.port}"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    head.append(f"Content-Length: {len(body) + 1024 * 1024}")
    with socket.create_connection(("127.0.0.1", server.port), timeout=ANSWER_WAIT) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        answer = _read_answer(sock)
    status_line, _, rest = answer.partition(b"\r\n")
    raw_headers, _, content = rest.partition(b"\r\n\r\n")
    fields = dict(line.decode().split(": ", 1) for line in raw_headers.split(b"\r\n") if line)
    return int(status_line.split()[1]), {k.lower(): v for k, v in fields.items()}, content


def _read_answer(sock: socket.socket) -> bytes:
    """Everything up to the end of the first response (or the close); fails on no answer."""
    answer = b""
    while True:
        try:
            part = sock.recv(65536)
        except TimeoutError:
            pytest.fail(f"no answer within {ANSWER_WAIT} s to a stalled body: {answer!r}")
        if not part:
            return answer
        answer += part
        head, found, content = answer.partition(b"\r\n\r\n")
        length = [line for line in head.lower().split(b"\r\n") if line.startswith(b"content-")]
        sizes = [int(line.split(b":")[1]) for line in length if line.startswith(b"content-length")]
        if found and sizes and len(content) >= sizes[0]:
            return answer


def _assert_timeout_envelope(status: int, content: bytes, code: str) -> None:
    assert status == 408, content
    entry = json.loads(content)["errors"][0]
    assert entry["code"] == code and entry["message"] and "detail" in entry


def _start(client: httpx.Client, repo: str) -> str:
    response = client.post(f"/v2/{repo}/blobs/uploads/")
    assert response.status_code == 202, response.text
    return str(response.headers["Location"])


def _offset(client: httpx.Client, location: str) -> int:
    status = client.get(location)
    assert status.status_code == 204, status.text
    return int(status.headers["Range"].split("-")[1]) + 1 if status.headers["Range"] != "0-0" else 0


def test_stalled_patch_is_answered_and_keeps_the_bytes(
    stall_server: RunningServer, client: httpx.Client
) -> None:
    repo, data = "stalls/patch", os.urandom(300_000)
    location = _start(client, repo)
    head = {"Content-Type": "application/octet-stream"}
    status, headers, content = stalled_request(
        stall_server, "PATCH", location, head, data[:100_000]
    )
    _assert_timeout_envelope(status, content, "BLOB_UPLOAD_INVALID")
    assert headers.get("connection") == "close"
    assert _offset(client, location) == 100_000  # the bytes that arrived are kept
    rest = client.patch(
        location, content=data[100_000:], headers={"Content-Range": "100000-299999"}
    )
    assert rest.status_code == 202, rest.text
    done = client.put(location, params={"digest": sha256(data)})
    assert done.status_code == 201, done.text
    assert client.get(f"/v2/{repo}/blobs/{sha256(data)}").content == data


def test_stalled_closing_put_publishes_nothing_and_tells_the_true_offset(
    stall_server: RunningServer, client: httpx.Client
) -> None:
    repo, data = "stalls/put", os.urandom(200_000)
    location = _start(client, repo)
    assert client.patch(location, content=data[:50_000]).status_code == 202
    target = f"{location}{'&' if '?' in location else '?'}digest={sha256(data)}"
    status, _, content = stalled_request(stall_server, "PUT", target, {}, data[50_000:120_000])
    _assert_timeout_envelope(status, content, "BLOB_UPLOAD_INVALID")
    assert client.head(f"/v2/{repo}/blobs/{sha256(data)}").status_code == 404
    offset = _offset(client, location)
    assert offset in (50_000, 120_000)
    done = client.put(location, params={"digest": sha256(data)}, content=data[offset:])
    assert done.status_code == 201, done.text
    assert client.get(f"/v2/{repo}/blobs/{sha256(data)}").content == data


def test_stalled_monolithic_post_publishes_nothing(
    stall_server: RunningServer, client: httpx.Client
) -> None:
    repo, data = "stalls/post", os.urandom(100_000)
    target = f"/v2/{repo}/blobs/uploads/?digest={sha256(data)}"
    status, _, content = stalled_request(stall_server, "POST", target, {}, data[:40_000])
    _assert_timeout_envelope(status, content, "BLOB_UPLOAD_INVALID")
    assert client.head(f"/v2/{repo}/blobs/{sha256(data)}").status_code == 404


def test_stalled_manifest_put_stores_nothing(
    stall_server: RunningServer, client: httpx.Client
) -> None:
    repo, config = "stalls/manifest", b"{}"
    push_blob(client, repo, config)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": sha256(config),
                "size": len(config),
            },
            "layers": [],
        }
    ).encode()
    head = {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}
    target = f"/v2/{repo}/manifests/latest"
    status, _, content = stalled_request(stall_server, "PUT", target, head, manifest)
    _assert_timeout_envelope(status, content, "MANIFEST_INVALID")
    assert client.get(f"/v2/{repo}/manifests/latest").status_code == 404
    tags = client.get(f"/v2/{repo}/tags/list")
    assert "latest" not in (tags.json().get("tags") or []) if tags.status_code == 200 else True


def test_default_caps_take_many_parallel_pushes(stall_server: RunningServer) -> None:
    """200 sessions opened at once by one (anonymous) client in one repository: all taken."""
    with stall_server.client() as http, ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(lambda _: http.post("/v2/stalls/busy/blobs/uploads/"), range(200)))
        assert [answer.status_code for answer in answers] == [202] * 200
        for answer in answers:
            assert http.delete(answer.headers["Location"]).status_code == 204
