"""Start a real ``dockyard serve`` on a free loopback port, with its own data directory."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

DOCKYARD = str(Path(sys.executable).with_name("dockyard"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningServer:
    url: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    port: int

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **kwargs)  # type: ignore[arg-type]


def start_server(
    workdir: Path,
    *,
    config: str | None = None,
    env: dict[str, str] | None = None,
    data_dir: Path | None = None,
    server: str | None = "granian",  # None: what the config says
    scheme: str = "http",
    port: int | None = None,
    verify: str | bool = False,
    data_dir_flag: bool = True,
    log_path: Path | None = None,  # several servers may share one (appends keep the order)
    host: str = "127.0.0.1",  # "[::1]" or "localhost" bind elsewhere on loopback
) -> RunningServer:
    port = port or free_port()
    data_dir = data_dir or workdir / "data"
    args = [DOCKYARD, "serve", "--addr", f"{host}:{port}"]
    if data_dir_flag:
        args += ["--data-dir", str(data_dir)]
    if server is not None:
        args += ["--server", server]
    if config is not None:
        config_path = workdir / "config.yml"
        config_path.write_text(config)
        args += ["--config", str(config_path)]
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    full_env.update(env or {})
    log_path = log_path or workdir / f"server-{port}.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, env=full_env, cwd=workdir
        )
    url = f"{scheme}://{host}:{port}"
    running = RunningServer(url, data_dir, process, log_path, port)
    _wait_ready(running, verify)
    return running


def _wait_ready(running: RunningServer, verify: str | bool) -> None:
    deadline = time.monotonic() + 90  # generous: a loaded CI machine migrates PostgreSQL slowly
    while time.monotonic() < deadline:
        if running.process.poll() is not None:
            raise RuntimeError(f"dockyard exited early:\n{running.log()}")
        try:
            httpx.get(running.url + "/health", timeout=1, verify=verify)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    stop_server(running)
    raise RuntimeError(f"dockyard did not start:\n{running.log()}")


def wait_for_http(url: str, seconds: float = 20) -> None:
    """Poll ``url`` until something answers HTTP (any status), or fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing answered at {url}")


def child_pids(pid: int) -> list[int]:
    """The live processes whose parent is ``pid`` (from /proc)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            children.append(int(stat.parent.name))
    return children


def process_gone(pid: int) -> bool:
    """True when ``pid`` has exited (a zombie waiting to be reaped counts as exited)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"


def stop_server(running: RunningServer) -> None:
    if running.process.poll() is None:
        running.process.send_signal(signal.SIGINT)
        try:
            running.process.wait(10)
        except subprocess.TimeoutExpired:
            running.process.kill()
            running.process.wait(5)


@contextmanager
def serving(workdir: Path, **kwargs: object) -> Iterator[RunningServer]:
    running = start_server(workdir, **kwargs)  # type: ignore[arg-type]
    try:
        yield running
    finally:
        stop_server(running)
