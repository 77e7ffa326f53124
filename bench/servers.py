"""Start and stop the two registries with equivalent settings, and measure their memory.

Both read the same registry:2 ``config.yml`` shape: filesystem storage in a private directory,
no auth, delete enabled, ``blobdescriptor: inmemory`` cache (as the ``registry:2`` image ships
it), and a loopback address of their own. Logging is each one's default (no ``log:`` section:
level info, access log on, as ``dockyard serve`` and ``registry:2`` run without a config), or,
with ``access_log=False`` (``scripts/bench --access-log off``), level warn and access log off.
Each server runs in its own session so the whole process tree (granian's workers too) can be
stopped.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

HOST = "127.0.0.1"
READY_TIMEOUT = 120.0
STOP_TIMEOUT = 15.0
SETTLE_WINDOW = 0.1
SETTLE_TIMEOUT = 60.0

QUIET_LOG = """\
log:
  level: warn
  accesslog:
    disabled: true
"""

CONFIG = """\
version: 0.1
{log}storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: {host}:{port}
"""

REFERENCE = "reference"
DOCKYARD = "dockyard"
NAMES = (REFERENCE, DOCKYARD)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def dockyard_command() -> str:
    return str(Path(sys.executable).with_name("dockyard"))


@dataclass
class Server:
    """One registry: its command line, its storage root, and the running process if any."""

    name: str
    workdir: Path
    port: int = field(default_factory=free_port)
    access_log: bool = True  # False: log level warn, access log disabled
    process: subprocess.Popen[bytes] | None = None
    extra_config: str = ""  # more top-level YAML (the mirror phase's ``proxy:``)
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def host(self) -> str:
        return HOST

    @property
    def root(self) -> Path:
        return self.workdir / "storage"

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "server.log"

    def command(self, config: Path) -> list[str]:
        if self.name == DOCKYARD:
            return [dockyard_command(), "serve", "--config", str(config)]
        return ["docker-registry", "serve", str(config)]

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
        env.update(REGISTRY_STORAGE_DELETE_ENABLED="true")
        env.update(self.extra_env)
        return env

    def config_text(self) -> str:
        log = "" if self.access_log else QUIET_LOG
        config = CONFIG.format(log=log, root=self.root, host=HOST, port=self.port)
        return config + self.extra_config

    def start(self) -> float:
        """Launch; seconds from launch to the first 200 on ``/v2/``."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "config.yml"
        config.write_text(self.config_text())
        with open(self.log_path, "ab") as log:
            started = time.perf_counter()
            self.process = subprocess.Popen(
                self.command(config),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.environment(),
                cwd=self.workdir,
                start_new_session=True,
            )
        self._wait_ready()
        return time.perf_counter() - started

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited early:\n{self.log_tail()}")
            if _answers(self.port):
                return
            time.sleep(0.002)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer /v2/ in {READY_TIMEOUT}s")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        _signal_group(process.pid, signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            _signal_group(process.pid, signal.SIGKILL)
            process.wait(5)
        _signal_group(process.pid, signal.SIGKILL)  # stray workers of the same session

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def pids(self) -> list[int]:
        assert self.process is not None
        return process_tree(self.process.pid)

    def memory_kib(self) -> tuple[int, int]:
        """(sum of VmRSS, sum of VmHWM) over the server's process tree, in KiB."""
        return tree_memory_kib(self.pids())


def tree_memory_kib(pids: list[int]) -> tuple[int, int]:
    rss = hwm = 0
    for pid in pids:
        status = _proc_status(pid)
        rss += status.get("VmRSS", 0)
        hwm += status.get("VmHWM", 0)
    return rss, hwm


def cpu_ticks(pids: list[int]) -> int:
    """User + system CPU time of ``pids`` in clock ticks (1/100 s)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total


def settle(servers: list[Server], timeout: float = SETTLE_TIMEOUT) -> float:
    """Wait until every running server is idle (at most 1 tick of CPU in 100 ms), so a sample
    never overlaps the tail of the previous one (a server may still be working on a request
    the load generator gave up on). Returns the seconds waited."""
    started = time.monotonic()
    pids = [pid for s in servers if s.process is not None for pid in s.pids()]
    before = cpu_ticks(pids)
    while time.monotonic() - started < timeout:
        time.sleep(SETTLE_WINDOW)
        after = cpu_ticks(pids)
        if after - before <= 1:
            break
        before = after
    return time.monotonic() - started


def _answers(port: int) -> bool:
    conn = http.client.HTTPConnection(HOST, port, timeout=2)
    try:
        conn.request("GET", "/v2/")
        response = conn.getresponse()
        response.read()
        return response.status == 200
    except OSError:
        return False
    finally:
        conn.close()


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)  # the session this harness created for that server, by its id


def process_tree(root: int) -> list[int]:
    """``root`` and all its descendants, from /proc/*/stat parent links."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        parent = int(stat[stat.rindex(b")") + 2 :].split()[1])
        children.setdefault(parent, []).append(int(entry))
    tree, pending = [], [root]
    while pending:
        pid = pending.pop()
        tree.append(pid)
        pending.extend(children.get(pid, []))
    return tree


def _proc_status(pid: int) -> dict[str, int]:
    values: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    key, value = line.split(":", 1)
                    values[key] = int(value.split()[0])
    except OSError:
        pass
    return values


def make_pair(workdir: Path, label: str, access_log: bool = True) -> dict[str, Server]:
    """A fresh (not yet started) reference + dockyard pair under ``workdir/label``."""
    return {name: Server(name, workdir / label / name, access_log=access_log) for name in NAMES}
