"""examples/cluster/README.md's "Try it in one command" block, run as written against
run-local.sh: a private PostgreSQL, Redis and SeaweedFS, three nodes and nginx, all on
loopback. The maintenance command (``dockyard gc --config examples/cluster/node.yml``) must
reach the cluster's own PostgreSQL and Redis, whose ports node.yml does not name."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
from pathlib import Path

import httpx
import pytest

from support.oci import make_image, push_image

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "cluster"
PORTS = (5000, 5001, 5002, 5003, 5101, 5102, 5103, 8333, 8888, 9333, 15432, 16379)


def _try_it_block() -> list[str]:
    text = (EXAMPLE / "README.md").read_text()
    section = text[text.index("## Try it in one command") :]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block is not None
    joined = block.group(1).replace("\\\n", " ")
    return [line.split("  #")[0].strip() for line in joined.splitlines() if line.strip()]


def _taken(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _bash(cwd: Path, line: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", line], cwd=cwd, env=env,
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


@pytest.mark.slow
@pytest.mark.serial  # the example's fixed ports (5000-5003, 8333, ...)
def test_the_readme_block_works_as_written(tmp_path: Path) -> None:
    if shutil.which("nginx") is None or shutil.which("redis-server") is None:
        pytest.skip("needs nginx and redis-server")
    if busy := [port for port in PORTS if _taken(port)]:
        pytest.skip(f"the example's fixed ports are in use: {busy}")
    commands = _try_it_block()
    start, stop = commands[0], commands[-1]
    assert start.startswith("examples/cluster/run-local.sh start")
    assert stop.startswith("examples/cluster/run-local.sh stop")
    middle = [c for c in commands[1:-1] if not c.startswith("skopeo copy")]  # needs docker.io
    assert any("dockyard gc --config examples/cluster/node.yml" in c for c in middle)
    for name in ("examples", ".venv"):  # the commands are written for a checkout's root
        (tmp_path / name).symlink_to(ROOT / name)
    started = _bash(tmp_path, start)
    try:
        assert started.returncode == 0, started.stderr
        assert "PostgreSQL: postgresql://dockyard:dockyard@127.0.0.1:15432/dockyard" in (
            started.stdout
        )
        assert "Redis:      127.0.0.1:16379" in started.stdout
        with httpx.Client(base_url="http://127.0.0.1:5000", timeout=60) as client:
            push_image(client, "library/demo", make_image(), "v1")
        done = _bash(tmp_path, "\n".join(middle))
        assert done.returncode == 0, done.stderr
        assert "deleted 0 untagged manifests and 0 blobs" in done.stdout, done.stdout
        dry = ".venv/bin/dockyard gc --dry-run --config examples/cluster/node.yml"
        unset = _bash(tmp_path, dry)
        assert unset.returncode == 1  # without the env file: PostgreSQL on 5432, one line
        assert "Traceback" not in unset.stderr, unset.stderr
    finally:
        stopped = _bash(tmp_path, stop)
        leftover = re.search(r"and (/tmp/dockyard-cluster-postgres-\w+)", stopped.stdout)
        if leftover:
            shutil.rmtree(leftover.group(1), ignore_errors=True)
    assert stopped.returncode == 0, stopped.stderr
