"""Long CLI jobs on a terminal draw a progress bar with counts, bytes and rate (rich); the same
job with stderr not a terminal writes plain lines. The terminal is a real pseudo-terminal."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
from pathlib import Path

from support.oci import make_image, push_image
from support.server import DOCKYARD, serving

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _on_a_terminal(args: list[str], cwd: Path) -> str:
    """Run ``args`` with stdin, stdout and stderr on a pseudo-terminal; return what it drew."""
    leader, follower = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    env.update(TERM="xterm-256color", COLUMNS="120")
    process = subprocess.Popen(args, cwd=cwd, env=env, stdin=follower, stdout=follower,
                               stderr=follower, close_fds=True)  # fmt: skip
    os.close(follower)
    drawn = bytearray()
    while True:
        ready, _, _ = select.select([leader], [], [], 120)
        if not ready:
            break
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the follower side closed: the process is gone
            break
        if not chunk:
            break
        drawn += chunk
    os.close(leader)
    assert process.wait(timeout=120) == 0, drawn.decode(errors="replace")
    return ANSI.sub("", drawn.decode(errors="replace"))


def test_backup_draws_a_bar_on_a_terminal_and_plain_lines_elsewhere(tmp_path: Path) -> None:
    with serving(tmp_path) as server, server.client() as client:
        for tag in ("v1", "v2", "v3"):
            push_image(client, "team/app", make_image(layers=2, size=200_000), tag=tag)
        data = str(server.data_dir)
        drawn = _on_a_terminal([DOCKYARD, "backup", str(tmp_path / "bk1"), "--data-dir", data],
                               tmp_path)  # fmt: skip
        plain = subprocess.run(
            [DOCKYARD, "backup", str(tmp_path / "bk2"), "--data-dir", data],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    assert "━" in drawn, drawn  # rich's bar
    assert re.search(r"backup: blobs .*9/9", drawn), drawn  # 3 configs + 6 layers: counts
    assert re.search(r"\d+(\.\d+)?/\d+(\.\d+)? [kM]B", drawn), drawn  # bytes done / total
    assert re.search(r"[0-9.]+ [kMG]?B/s", drawn), drawn  # rate
    assert plain.returncode == 0, plain.stderr
    assert "━" not in plain.stderr and "\x1b[" not in plain.stderr
    assert re.search(r"^backup: blobs 9/9 .* done$", plain.stderr, re.M), plain.stderr
