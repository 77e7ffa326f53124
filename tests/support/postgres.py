"""A real PostgreSQL server for the tests: ``initdb`` + ``postgres`` in a temporary directory.

One server per test session (``shared_server()``), listening on a free loopback port, run as an
unprivileged user because ``postgres`` refuses to run as root (``dockyard-test``, created with
``useradd`` when missing). Fast and unsafe settings (no fsync): test data only. Stopped at exit;
the server also dies with the test process (parent-death signal), so none is left behind.
"""

from __future__ import annotations

import atexit
import ctypes
import itertools
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
import pytest

from support.server import free_port


def _bin_dir() -> Path:
    """``$DOCKYARD_PG_BIN``, else the newest Debian PostgreSQL under /usr/lib/postgresql."""
    if "DOCKYARD_PG_BIN" in os.environ:
        return Path(os.environ["DOCKYARD_PG_BIN"])
    found = [p for p in Path("/usr/lib/postgresql").glob("*/bin") if p.parent.name.isdigit()]
    versions = sorted(found, key=lambda p: int(p.parent.name), reverse=True)
    return versions[0] if versions else Path("/usr/lib/postgresql/15/bin")


BIN = _bin_dir()
TEST_USER = "dockyard-test"
SUPERUSER = "dockyard"
PASSWORD = "dockyard-pw"
_PR_SET_PDEATHSIG = 1
_counter = itertools.count()
_LIBC = ctypes.CDLL(None, use_errno=True)  # loaded before any fork


def available() -> bool:
    return (BIN / "postgres").is_file() and (BIN / "initdb").is_file()


def _run_as() -> tuple[int, int] | None:
    """The (uid, gid) to run the server as: ``dockyard-test`` when we are root, else None."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(TEST_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", TEST_USER],
            check=False,  # another test session may have created it just now
            capture_output=True,
        )
        entry = pwd.getpwnam(TEST_USER)
    return entry.pw_uid, entry.pw_gid


def _demote(ids: tuple[int, int] | None) -> None:
    """In the child: drop to the test user, then die with the parent."""
    if ids is not None:
        os.setgroups([])
        os.setgid(ids[1])
        os.setuid(ids[0])
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class PostgresServer:
    """One ``postgres`` process on ``127.0.0.1:port``; restartable on the same data."""

    def __init__(self) -> None:
        self.ids = _run_as()
        # Under /tmp, which the unprivileged user can always traverse (TMPDIR may not be).
        where = "/tmp" if self.ids is not None else None
        self.root = Path(tempfile.mkdtemp(prefix="dockyard-pg-", dir=where))
        self.data = self.root / "data"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        if self.ids is not None:
            os.chown(self.root, *self.ids)
        self._initdb()

    def _spawn(self, args: list[str], **kwargs: object) -> subprocess.Popen[bytes]:
        ids = self.ids
        return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
            args,
            preexec_fn=lambda: _demote(ids),  # noqa: PLW1509 - setuid/prctl only
            cwd=self.root,
            **kwargs,
        )

    def _initdb(self) -> None:
        pwfile = self.root / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if self.ids is not None:
            os.chown(pwfile, *self.ids)
        args = [str(BIN / "initdb"), "-D", str(self.data), "-U", SUPERUSER]
        args += ["--pwfile", str(pwfile), "--auth-host=scram-sha-256", "--auth-local=trust"]
        args += ["--no-sync", "--encoding=UTF8", "--locale=C.UTF-8"]
        initdb = self._spawn(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out, _ = initdb.communicate(timeout=120)
        if initdb.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{out.decode(errors='replace')}")

    def start(self) -> None:
        args = [str(BIN / "postgres"), "-D", str(self.data), "-p", str(self.port)]
        args += ["-k", str(self.root), "-c", "listen_addresses=127.0.0.1"]
        for setting in ("fsync=off", "synchronous_commit=off", "full_page_writes=off"):
            args += ["-c", setting]
        args += ["-c", "max_connections=300", "-c", "shared_buffers=64MB"]
        log = open(self.root / "postgres.log", "ab")  # noqa: SIM115 - owned by the process
        self.process = self._spawn(args, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"postgres exited:\n{self.log()}")
            try:
                psycopg.connect(self.url("postgres"), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                time.sleep(0.05)
        raise RuntimeError(f"postgres did not start:\n{self.log()}")

    def stop(self) -> None:
        """Fast shutdown (clients are disconnected with an admin-shutdown error)."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def log(self) -> str:
        path = self.root / "postgres.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def url(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}:{PASSWORD}@127.0.0.1:{self.port}/{database}"

    def create_database(self, prefix: str = "dockyard") -> str:
        """A new empty database; returns its URL."""
        name = f"{prefix}_{os.getpid()}_{next(_counter)}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


_shared: PostgresServer | None = None


def shared_server() -> PostgresServer:
    """The session's server, started on first use and stopped when the test process exits."""
    global _shared  # noqa: PLW0603 - one server per test session
    if _shared is None:
        server = PostgresServer()
        atexit.register(server.close)
        server.start()
        _shared = server
    return _shared


_suite_urls: dict[str, str] = {}


def suite_database_url(suite: str) -> str:
    """A database named after ``suite`` on the session's server, created once, with a small
    pool; skips the test when PostgreSQL is not installed."""
    if not available():
        pytest.skip("PostgreSQL binaries not installed (scripts/bootstrap --test)")
    if suite not in _suite_urls:
        _suite_urls[suite] = shared_server().create_database(suite)
    return _suite_urls[suite] + "?pool_min_size=1&pool_max_size=4"
