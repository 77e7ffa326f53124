"""``dockyard serve`` processes and ports: a taken address is refused before anything starts,
workers never outlive the serve process, and a stop is prompt and logged.

Every server mode is covered: granian (single node) and uvicorn (cluster nodes), one or more
workers, TLS, the debug listener, IPv4, IPv6 and ``localhost`` binds (all on loopback).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from support.oci import make_image, push_image
from support.server import (
    DOCKYARD,
    RunningServer,
    child_pids,
    free_port,
    process_gone,
    serving,
    start_server,
    stop_server,
)
from support.tokens import make_cert

MODES = [("granian", 1), ("granian", 2), ("uvicorn", 1), ("uvicorn", 2)]


def _clean_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    return {**env, **extra}


def _second_serve(tmp_path: Path, addr: str, env: dict[str, str]) -> tuple[int, str, Path]:
    """Run a second ``dockyard serve`` on ``addr``; its exit status, stderr and data dir.
    A second server that starts serving is stopped and reported as still running (-999)."""
    data = tmp_path / "second-data"
    args = [DOCKYARD, "serve", "--addr", addr, "--data-dir", str(data)]
    process = subprocess.Popen(
        args, env=_clean_env(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,  # its workers too can be killed if it wrongly starts
    )  # fmt: skip
    try:
        _, stderr = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        _, stderr = process.communicate(timeout=30)
        return -999, stderr, data
    return process.returncode, stderr, data


def _assert_refused(result: tuple[int, str, Path], shown: str) -> None:
    status, stderr, data = result
    assert status == 1, (status, stderr)
    message = stderr.strip()
    assert len(message.splitlines()) == 1, message
    assert shown in message and "address already in use" in message, message
    assert "Traceback" not in stderr
    assert not data.exists()  # nothing started: no data directory, no migration


def _assert_serves(server: RunningServer, verify: bool = False) -> None:
    response = httpx.get(server.url + "/v2/", timeout=30, verify=verify)
    assert response.status_code == 200
    assert response.headers["Docker-Distribution-API-Version"] == "registry/2.0"


@pytest.mark.parametrize("mode,workers", MODES)
def test_second_server_on_a_taken_port_exits_with_one_line(
    tmp_path: Path, mode: str, workers: int
) -> None:
    env = {"REGISTRY_DOCKYARD_WORKERS": str(workers), "REGISTRY_DOCKYARD_SERVER": mode}
    with serving(tmp_path, env=env, server=mode) as first:
        result = _second_serve(tmp_path, f"127.0.0.1:{first.port}", env)
        _assert_refused(result, f"127.0.0.1:{first.port}")
        _assert_serves(first)


@pytest.mark.parametrize("host", ["[::1]", "localhost"])
def test_taken_ipv6_and_localhost_addresses_are_refused(tmp_path: Path, host: str) -> None:
    with serving(tmp_path, host=host) as first:
        _assert_serves(first)
        result = _second_serve(tmp_path, f"{host}:{first.port}", {})
        _assert_refused(result, f"{host}:{first.port}")
        _assert_serves(first)


def _tls_env(directory: Path) -> dict[str, str]:
    cert = make_cert("127.0.0.1")
    (directory / "cert.pem").write_bytes(cert.pem)
    key = cert.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    (directory / "key.pem").write_bytes(key)
    return {
        "REGISTRY_HTTP_TLS_CERTIFICATE": str(directory / "cert.pem"),
        "REGISTRY_HTTP_TLS_KEY": str(directory / "key.pem"),
    }


@pytest.mark.parametrize("mode", ["granian", "uvicorn"])
def test_taken_tls_port_is_refused(tmp_path: Path, mode: str) -> None:
    env = {**_tls_env(tmp_path), "REGISTRY_DOCKYARD_SERVER": mode}
    with serving(tmp_path, env=env, server=mode, scheme="https") as first:
        result = _second_serve(tmp_path, f"127.0.0.1:{first.port}", env)
        _assert_refused(result, f"127.0.0.1:{first.port}")
        _assert_serves(first)


def test_taken_debug_address_is_refused(tmp_path: Path) -> None:
    debug = f"127.0.0.1:{free_port()}"
    env = {"REGISTRY_HTTP_DEBUG_ADDR": debug}
    with serving(tmp_path, env=env) as first:
        assert httpx.get(f"http://{debug}/debug/health", timeout=30).status_code == 200
        result = _second_serve(tmp_path, f"127.0.0.1:{free_port()}", env)
        _assert_refused(result, f"{debug} (http.debug.addr)")
        _assert_serves(first)


def _wait_until(condition: object, seconds: float = 60) -> bool:
    """Poll ``condition()`` until it holds or ``seconds`` pass (a bound, not a timing)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@pytest.mark.parametrize("mode,workers", MODES)
def test_workers_stop_when_serve_is_killed(tmp_path: Path, mode: str, workers: int) -> None:
    env = {"REGISTRY_DOCKYARD_WORKERS": str(workers)}
    server = start_server(tmp_path, env=env, server=mode)
    try:
        _assert_serves(server)
        workers_pids = child_pids(server.process.pid)
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(30)
        assert _wait_until(lambda: all(process_gone(pid) for pid in workers_pids)), (
            f"workers still running after the serve process was killed:\n{server.log()}"
        )
        assert _wait_until(lambda: _port_free(server.port)), "the port is still taken"
    finally:
        for pid in child_pids(server.process.pid) + workers_pids:
            if not process_gone(pid):
                os.kill(pid, signal.SIGKILL)
        stop_server(server)
    with serving(tmp_path, port=server.port, data_dir=tmp_path / "again") as again:
        _assert_serves(again)  # the port is usable again, by a new server


def _log_entries(server: RunningServer) -> list[dict[str, object]]:
    lines = server.log().splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def _messages(server: RunningServer) -> list[str]:
    return [str(e["msg"]) for e in _log_entries(server) if e.get("logger") == "dockyard.serve"]


@pytest.mark.parametrize("mode", ["granian", "uvicorn"])
def test_stop_is_logged_as_json(tmp_path: Path, mode: str) -> None:
    server = start_server(tmp_path, server=mode)
    _assert_serves(server)
    server.process.send_signal(signal.SIGTERM)
    server.process.wait(60)
    messages = _messages(server)
    assert messages[-1] == "dockyard stopped", messages
    if mode == "granian":  # nothing was open: the workers drained, none was cut short
        assert "connections drained" in messages and "drain timeout" not in server.log()
    stopping = next(e for e in _log_entries(server) if e.get("msg") == "dockyard stopping")
    assert stopping["reason"] == "SIGTERM received"
    assert stopping["drain_seconds"] == 10.0  # http.draintimeout unset


def _open_idle_connections(port: int) -> list[socket.socket]:
    """One keep-alive connection idle after a request, one with a half-sent request."""
    keep_alive = socket.create_connection(("127.0.0.1", port))
    keep_alive.sendall(b"GET /v2/ HTTP/1.1\r\nHost: registry\r\n\r\n")
    assert keep_alive.recv(65536).startswith(b"HTTP/1.1 200")
    half_sent = socket.create_connection(("127.0.0.1", port))
    half_sent.sendall(b"GET /v2/ HTTP/1.1\r\nHost: registry\r\n")
    return [keep_alive, half_sent]


@pytest.mark.parametrize("mode", ["granian", "uvicorn"])
def test_open_idle_connections_do_not_hold_up_the_stop(tmp_path: Path, mode: str) -> None:
    # granian waited for its 30 s header read timeout on the half-sent request; the drain
    # timeout (1 s here) bounds every stop. The bound below is far from either.
    config = "version: 0.1\nhttp:\n  draintimeout: 1s\n"
    server = start_server(tmp_path, server=mode, config=config)
    connections = _open_idle_connections(server.port)
    try:
        server.process.send_signal(signal.SIGINT)
        try:
            server.process.wait(20)
        except subprocess.TimeoutExpired:
            pytest.fail("dockyard serve did not stop while idle connections stayed open")
        assert server.process.returncode == 0
        assert _messages(server)[-1] == "dockyard stopped"
    finally:
        for connection in connections:
            connection.close()
        stop_server(server)


def test_app_shutdown_still_flushes_when_the_drain_timeout_cuts_the_stop(tmp_path: Path) -> None:
    """granian runs the app's shutdown only after its last connection; a worker that outlives
    the drain is told to stop its app (which writes the pull times it buffers) before it exits."""
    config = "version: 0.1\nhttp:\n  draintimeout: 1s\ndockyard:\n  retention:\n    pullflush: 1h\n"
    server = start_server(tmp_path, config=config)
    connections: list[socket.socket] = []
    try:
        with server.client() as client:
            image = make_image()
            push_image(client, "held/app", image, tag="v1")
            assert client.get("/v2/held/app/manifests/v1").status_code == 200
        connections = _open_idle_connections(server.port)
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(60)
        assert "drain timeout reached" in server.log()
    finally:
        for connection in connections:
            connection.close()
        stop_server(server)
    database = sqlite3.connect(server.data_dir / "dockyard" / "metadata.db")
    with contextlib.closing(database):
        rows = database.execute(
            "SELECT last_pulled_at FROM manifests WHERE digest = ?", (image.digest,)
        ).fetchall()
    assert rows and rows[0][0] is not None, "the pull buffered in memory was lost"
