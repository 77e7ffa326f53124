"""nginx (Debian) in front of dockyard nodes, configured from examples/cluster/nginx.conf."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from support.server import free_port, wait_for_http

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "cluster" / "nginx.conf"


def render_config(node_ports: list[int], listen_port: int) -> str:
    """The example config with this test's ports: same settings, only addresses differ."""
    text = EXAMPLE.read_text()
    servers = "\n".join(
        f"        server 127.0.0.1:{port} max_fails=1 fail_timeout=10s;" for port in node_ports
    )
    text = re.sub(
        r"(?m)^        server 127\.0\.0\.1:500[1-3][^\n]*\n(?:        server [^\n]*\n)*",
        servers + "\n",
        text,
    )
    text = text.replace("listen 127.0.0.1:5000;", f"listen 127.0.0.1:{listen_port};")
    return "user root;\n" + text


@contextmanager
def nginx_in_front(workdir: Path, node_ports: list[int]) -> Iterator[str]:
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    assert Path(binary).exists(), "nginx is missing: apt-get install nginx-light"
    prefix = workdir / "nginx"
    (prefix / "tmp").mkdir(parents=True)
    port = free_port()
    config = prefix / "nginx.conf"
    config.write_text(render_config(node_ports, port))
    process = subprocess.Popen(
        [binary, "-c", str(config), "-p", str(prefix), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(url + "/health", 10)
        yield url
    finally:
        process.terminate()
        process.wait(10)
