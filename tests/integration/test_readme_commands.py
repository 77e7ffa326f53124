"""The README opens with exactly two commands, and the serve command starts a registry."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

import httpx

from support.server import free_port, wait_for_http

ROOT = Path(__file__).resolve().parents[2]


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```sh\n(.*?)```", text, re.S)
    assert block and text.index("```sh") < 200, "the README must open with the commands"
    return [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_readme_opens_with_exactly_serve_and_test() -> None:
    assert _readme_commands() == ["scripts/serve", "scripts/test"]
    assert (ROOT / ".ci" / "run").read_text().strip().endswith("exec scripts/test")


def test_readme_serve_command_starts_the_embedded_registry(tmp_path: Path) -> None:
    port = free_port()
    data = tmp_path / "data"
    process = subprocess.Popen(
        [str(ROOT / "scripts" / "serve"), "--addr", f"127.0.0.1:{port}", "--data-dir", str(data)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        wait_for_http(f"http://127.0.0.1:{port}/v2/", 120)
        response = httpx.get(f"http://127.0.0.1:{port}/v2/")
        assert response.status_code == 200
        assert response.headers["Docker-Distribution-API-Version"] == "registry/2.0"
        assert (data / "dockyard" / "metadata.db").is_file()
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Ctrl-C to the whole group; it must end by itself (60 s: a loaded CI machine once took
    more than 20 s); if not, it is killed and the test fails saying so."""
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
        raise AssertionError("scripts/serve did not stop within 60 s of Ctrl-C") from None
