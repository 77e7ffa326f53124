"""Whole-server behaviour: restarts, disconnects, read-only, deletion off, auth, metrics."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from support.oci import assert_oci_error, make_image, push_blob, push_image, sha256
from support.server import DOCKYARD, free_port, serving, start_server, stop_server


def test_upload_survives_restart_and_resumes_from_reported_offset(tmp_path: Path) -> None:
    data = os.urandom(2 * 1024 * 1024 + 5)
    data_dir = tmp_path / "data"
    first = start_server(tmp_path, data_dir=data_dir)
    try:
        with first.client() as client:
            start = client.post("/v2/resume/me/blobs/uploads/")
            upload_path = httpx.URL(start.headers["Location"]).path
            client.patch(upload_path, content=data[:1_000_000])
    finally:
        stop_server(first)
    second = start_server(tmp_path, data_dir=data_dir)
    try:
        with second.client() as client:
            status = client.get(upload_path)
            assert status.status_code == 204
            assert status.headers["Range"] == "0-999999"
            offset = int(status.headers["Range"].split("-")[1]) + 1
            patched = client.patch(
                upload_path,
                content=data[offset:],
                headers={"Content-Range": f"{offset}-{len(data) - 1}"},
            )
            assert patched.status_code == 202, patched.text
            done = client.put(upload_path, params={"digest": sha256(data)})
            assert done.status_code == 201, done.text
            assert client.get(f"/v2/resume/me/blobs/{sha256(data)}").content == data
    finally:
        stop_server(second)


def test_client_disconnect_mid_upload_keeps_session_resumable(tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024)
    with serving(tmp_path) as server, server.client() as client:
        start = client.post("/v2/flaky/blobs/uploads/")
        path = httpx.URL(start.headers["Location"]).path
        sent = 1024 * 1024 + 123
        with socket.create_connection(("127.0.0.1", server.port)) as raw:
            raw.sendall(
                f"PATCH {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(data)}\r\n"
                "Content-Type: application/octet-stream\r\n\r\n".encode()
            )
            raw.sendall(data[:sent])
            time.sleep(0.5)
        deadline = time.monotonic() + 10
        offset = -1
        while time.monotonic() < deadline:
            status = client.get(path)
            assert status.status_code == 204
            offset = int(status.headers["Range"].split("-")[1]) + 1
            if offset == sent:
                break
            time.sleep(0.1)
        assert offset == sent, "status must report exactly the bytes that arrived"
        rest = client.patch(
            path, content=data[offset:], headers={"Content-Range": f"{offset}-{len(data) - 1}"}
        )
        assert rest.status_code == 202, rest.text
        done = client.put(path, params={"digest": sha256(data)})
        assert done.status_code == 201, done.text
        assert client.get(f"/v2/flaky/blobs/{sha256(data)}").content == data


def test_deletion_disabled_by_default(tmp_path: Path) -> None:
    with serving(tmp_path) as server, server.client() as client:
        image = make_image()
        push_image(client, "nodelete", image, tag="v1")
        assert_oci_error(
            client.delete(f"/v2/nodelete/manifests/{image.digest}"), 405, "UNSUPPORTED"
        )
        assert_oci_error(client.delete("/v2/nodelete/manifests/v1"), 405, "UNSUPPORTED")
        assert_oci_error(
            client.delete(f"/v2/nodelete/blobs/{sha256(image.config)}"), 405, "UNSUPPORTED"
        )
        assert client.get("/v2/nodelete/manifests/v1").status_code == 200


def test_read_only_mode_refuses_writes_and_serves_reads(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    image = make_image()
    with serving(tmp_path, data_dir=data_dir) as server, server.client() as client:
        push_image(client, "frozen", image, tag="v1")
    env = {
        "REGISTRY_STORAGE_MAINTENANCE_READONLY": "{enabled: true}",
        "REGISTRY_STORAGE_DELETE_ENABLED": "true",
    }
    with serving(tmp_path, data_dir=data_dir, env=env) as server, server.client() as client:
        assert client.get("/v2/frozen/manifests/v1").content == image.manifest
        assert_oci_error(client.post("/v2/frozen/blobs/uploads/"), 405, "UNSUPPORTED")
        put = client.put(
            "/v2/frozen/manifests/v2",
            content=image.manifest,
            headers={"Content-Type": image.media_type},
        )
        assert_oci_error(put, 405, "UNSUPPORTED")
        assert_oci_error(client.delete("/v2/frozen/manifests/v1"), 405, "UNSUPPORTED")


def _htpasswd(path: Path, user: str, password: str) -> None:
    line = subprocess.run(
        ["htpasswd", "-Bbn", user, password], check=True, capture_output=True, text=True
    ).stdout
    path.write_text(line.strip() + "\n")


def test_htpasswd_basic_auth(tmp_path: Path) -> None:
    passwd = tmp_path / "htpasswd"
    _htpasswd(passwd, "alice", "s3cret")
    env = {
        "REGISTRY_AUTH": "htpasswd",
        "REGISTRY_AUTH_HTPASSWD_REALM": "Dockyard Test",
        "REGISTRY_AUTH_HTPASSWD_PATH": str(passwd),
    }
    with serving(tmp_path, env=env) as server, server.client() as anonymous:
        challenge = anonymous.get("/v2/")
        assert_oci_error(challenge, 401, "UNAUTHORIZED")
        assert challenge.headers["WWW-Authenticate"] == 'Basic realm="Dockyard Test"'
        assert_oci_error(anonymous.get("/v2/_catalog"), 401, "UNAUTHORIZED")
        wrong = anonymous.get("/v2/", auth=("alice", "nope"))
        assert_oci_error(wrong, 401, "UNAUTHORIZED")
        garbage = anonymous.get("/v2/", headers={"Authorization": "Basic !!!notbase64"})
        assert_oci_error(garbage, 401, "UNAUTHORIZED")
        with server.client(auth=("alice", "s3cret")) as alice:
            assert alice.get("/v2/").status_code == 200
            image = make_image()
            push_image(alice, "private/app", image, tag="v1")
            assert alice.get("/v2/private/app/manifests/v1").content == image.manifest
        assert_oci_error(anonymous.get("/v2/private/app/manifests/v1"), 401, "UNAUTHORIZED")


def test_upload_bound_to_its_principal(tmp_path: Path) -> None:
    passwd = tmp_path / "htpasswd"
    _htpasswd(passwd, "alice", "a")
    with open(passwd, "a") as handle:
        handle.write(
            subprocess.run(
                ["htpasswd", "-Bbn", "bob", "b"], check=True, capture_output=True, text=True
            ).stdout
        )
    env = {"REGISTRY_AUTH": "htpasswd", "REGISTRY_AUTH_HTPASSWD_PATH": str(passwd)}
    with (
        serving(tmp_path, env=env) as server,
        server.client(auth=("alice", "a")) as alice,
        server.client(auth=("bob", "b")) as bob,
    ):
        location = alice.post("/v2/shared/blobs/uploads/").headers["Location"]
        assert_oci_error(bob.get(location), 404, "BLOB_UPLOAD_UNKNOWN")
        data = b"bob's bytes"
        assert_oci_error(
            bob.put(location, params={"digest": sha256(data)}, content=data),
            404,
            "BLOB_UPLOAD_UNKNOWN",
        )
        assert alice.get(location).status_code == 204


def test_metrics_and_health_on_debug_address(tmp_path: Path) -> None:
    debug_port = free_port()
    env = {
        "REGISTRY_HTTP_DEBUG_ADDR": f"127.0.0.1:{debug_port}",
        "REGISTRY_HTTP_DEBUG_PROMETHEUS_ENABLED": "true",
    }
    with serving(tmp_path, env=env) as server, server.client() as client:
        push_blob(client, "metered", os.urandom(1000))
        client.get("/v2/_catalog")
        metrics = httpx.get(f"http://127.0.0.1:{debug_port}/metrics").text
        assert (
            'registry_http_requests_total{code="201",method="POST",route="upload_start"}' in metrics
        )
        assert "registry_http_request_duration_seconds_bucket" in metrics
        assert 'registry_storage_action_total{action="move",driver="filesystem"} 1.0' in metrics
        assert 'registry_storage_action_total{action="writer",driver="filesystem"}' in metrics
        assert "registry_bytes_pushed_total 1000.0" in metrics
        health = httpx.get(f"http://127.0.0.1:{debug_port}/debug/health")
        assert health.status_code == 200 and health.json()["status"] == "ok"


def test_access_log_is_one_json_line_per_request(tmp_path: Path) -> None:
    with serving(tmp_path) as server, server.client() as client:
        client.get("/v2/logged/repo/tags/list")
        time.sleep(0.2)
        lines = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
    entries = [
        e
        for e in lines
        if e.get("logger") == "dockyard.access" and e.get("repository") == "logged/repo"
    ]
    assert len(entries) == 1
    entry = entries[0]
    for key in (
        "request_id",
        "method",
        "route",
        "repository",
        "status",
        "bytes_out",
        "duration_ms",
        "user",
    ):
        assert key in entry, key
    assert entry["status"] == 404 and entry["route"] == "tags"


def test_uvicorn_server_option_works(tmp_path: Path) -> None:
    with serving(tmp_path, server="uvicorn") as server, server.client() as client:
        image = make_image()
        push_image(client, "via/uvicorn", image, tag="v1")
        assert client.get("/v2/via/uvicorn/manifests/v1").content == image.manifest


@pytest.mark.parametrize(
    "env,config,expected",
    [
        # (a variable naming no key, REGISTRY_HTTP_ADRESS, is ignored with a warning instead:
        # tests/integration/test_config_warnings.py)
        ({"REGISTRY_LOG_LEVEL": "loud"}, None, "REGISTRY_LOG_LEVEL"),
        ({"REGISTRY_STORAGE_DELETE_ENABLED": "maybe"}, None, "storage.delete.enabled"),
        ({}, "version: 0.1\nhttp:\n  adress: ':5000'\n", "adress"),
        (
            {
                "REGISTRY_HTTP_TLS_CERTIFICATE": "/nonexistent/cert.pem",
                "REGISTRY_HTTP_TLS_KEY": "/nonexistent/key.pem",
            },
            None,
            "http.tls",
        ),
    ],
)
def test_bad_configuration_is_one_line_before_start(
    tmp_path: Path, env: dict[str, str], config: str | None, expected: str
) -> None:
    args = [
        DOCKYARD,
        "serve",
        "--addr",
        f"127.0.0.1:{free_port()}",
        "--data-dir",
        str(tmp_path / "d"),
    ]
    if config is not None:
        (tmp_path / "config.yml").write_text(config)
        args += ["--config", str(tmp_path / "config.yml")]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    result = subprocess.run(
        args, env={**clean, **env}, capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode != 0
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1, message
    assert expected in message
    assert "Traceback" not in result.stderr


def test_missing_config_file(tmp_path: Path) -> None:
    result = subprocess.run(
        [DOCKYARD, "serve", "--config", str(tmp_path / "nope.yml")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 1
    assert "nope.yml" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_basic_auth_header_parsing_is_strict(tmp_path: Path) -> None:
    passwd = tmp_path / "htpasswd"
    _htpasswd(passwd, "carol", "pw")
    env = {"REGISTRY_AUTH": "htpasswd", "REGISTRY_AUTH_HTPASSWD_PATH": str(passwd)}
    with serving(tmp_path, env=env) as server, server.client() as client:
        no_colon = base64.b64encode(b"carolpw").decode()
        assert client.get("/v2/", headers={"Authorization": f"Basic {no_colon}"}).status_code == 401
        bearer = client.get("/v2/", headers={"Authorization": "Bearer abc"})
        assert bearer.status_code == 401


def test_stale_uploads_are_purged(tmp_path: Path) -> None:
    env = {
        "REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_ENABLED": "true",
        "REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_AGE": "1s",
        "REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_INTERVAL": "1s",
    }
    with serving(tmp_path, env=env) as server, server.client() as client:
        location = client.post("/v2/stale/blobs/uploads/").headers["Location"]
        client.patch(location, content=b"abandoned")
        upload_id = location.rsplit("/", 1)[1]
        upload_dir = server.data_dir / "dockyard" / "uploads" / upload_id
        assert upload_dir.exists()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and client.get(location).status_code == 204:
            time.sleep(0.2)
        assert_oci_error(client.get(location), 404, "BLOB_UPLOAD_UNKNOWN")
        assert not upload_dir.exists()


def test_rehash_after_restart_is_counted(tmp_path: Path) -> None:
    data = os.urandom(4000)
    data_dir = tmp_path / "data"
    first = start_server(tmp_path, data_dir=data_dir)
    try:
        with first.client() as client:
            path = httpx.URL(client.post("/v2/re/hash/blobs/uploads/").headers["Location"]).path
            client.patch(path, content=data[:1000])
    finally:
        stop_server(first)
    debug_port = free_port()
    env = {"REGISTRY_HTTP_DEBUG_ADDR": f"127.0.0.1:{debug_port}"}
    with serving(tmp_path, data_dir=data_dir, env=env) as server, server.client() as client:
        client.patch(path, content=data[1000:])
        assert client.put(path, params={"digest": sha256(data)}).status_code == 201
        metrics = httpx.get(f"http://127.0.0.1:{debug_port}/metrics").text
        assert "registry_upload_rehash_total 1.0" in metrics


REGISTRY2_CONFIG = """\
version: 0.1
log:
  level: info
  formatter: json
  fields:
    service: registry
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: true
      age: 168h
      interval: 24h
      dryrun: false
http:
  addr: :5000
  secret: asecretforlocaldevelopment
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
"""


def test_serves_with_a_registry2_config_file(tmp_path: Path) -> None:
    root = tmp_path / "registry-root"
    config = REGISTRY2_CONFIG.format(root=root)
    with (
        serving(tmp_path, config=config, data_dir=root, data_dir_flag=False) as server,
        server.client() as client,
    ):
        image = make_image()
        push_image(client, "from/config", image, tag="v1")
        assert client.delete("/v2/from/config/manifests/v1").status_code == 202
    assert (root / "docker" / "registry" / "v2" / "blobs" / "sha256").is_dir()
    assert (root / "dockyard" / "metadata.db").is_file()
    lines = [json.loads(x) for x in server.log().splitlines() if x.startswith("{")]
    assert any(x.get("service") == "registry" for x in lines), "log.fields must be added"


def test_internal_failure_is_500_envelope_without_traceback(tmp_path: Path) -> None:
    with serving(tmp_path) as server, server.client() as client:
        uploads = server.data_dir / "dockyard" / "uploads"
        if uploads.exists():
            for child in uploads.iterdir():
                child.rmdir()
            uploads.rmdir()
        uploads.write_text("a file where a directory belongs")
        response = client.post("/v2/broken/blobs/uploads/")
        entry = assert_oci_error(response, 500, "UNKNOWN")
        request_id = response.headers["X-Request-Id"]
        assert entry["detail"] == {"request_id": request_id}
        assert "Traceback" not in response.text and "Error" not in entry["message"]
        time.sleep(0.2)
        logged = [json.loads(x) for x in server.log().splitlines() if x.startswith("{")]
        failures = [x for x in logged if x.get("request_id") == request_id and "error" in x]
        assert failures and "Traceback" in failures[0]["error"]
        assert client.get("/v2/").status_code == 200


def test_configured_headers_are_added_to_responses(tmp_path: Path) -> None:
    config = "version: 0.1\nhttp:\n  headers:\n    X-Content-Type-Options: [nosniff]\n"
    with serving(tmp_path, config=config) as server, server.client() as client:
        assert client.get("/v2/").headers["X-Content-Type-Options"] == "nosniff"
        missing = client.get("/v2/none/manifests/x")
        assert missing.status_code == 404
        assert missing.headers["X-Content-Type-Options"] == "nosniff"


def test_unsupported_auth_refuses_to_start(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle.pem"
    bundle.write_text("")
    config = (
        "version: 0.1\nauth:\n  token:\n    realm: https://auth.invalid/token\n"
        f"    service: registry\n    issuer: me\n    rootcertbundle: {bundle}\n"
    )
    (tmp_path / "config.yml").write_text(config)
    result = subprocess.run(
        [
            DOCKYARD,
            "serve",
            "--config",
            str(tmp_path / "config.yml"),
            "--data-dir",
            str(tmp_path / "d"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 1
    assert "auth.token" in result.stderr and "Traceback" not in result.stderr
