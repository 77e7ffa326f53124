"""``dockyard replication``: policies and runs from the command line, against a real peer."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx

from support.identity import cli
from support.oci import make_image
from support.replication import push_image
from support.server import DOCKYARD, serving

ENV = {"REGISTRY_DOCKYARD_OUTBOUND_ALLOWED": "[127.0.0.0/8]"}


def _fails(data: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")} | ENV
    done = subprocess.run([DOCKYARD, *args, "--data-dir", str(data)], capture_output=True,
                          text=True, env=env, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    return done.stderr


def test_policies_and_a_dry_run_from_the_command_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (tmp_path / "peer").mkdir()
    with serving(tmp_path / "peer") as peer:
        image = make_image(layers=1)
        with httpx.Client(base_url=peer.url, timeout=30) as client:
            push_image(client, "lib/tool", image, "1.4.0")
            push_image(client, "lib/tool", make_image(layers=1), "0.9.0")
        added = cli(data, ENV, "replication", "add", "from-peer", "--url", peer.url,
                    "--direction", "pull", "--repository", "lib/tool", "--tag", "semver:>=1",
                    "--username", "someone", "--password-stdin", "--interval", "1h",
                    stdin="s3cret-pw\n")  # fmt: skip
        assert "created replication policy from-peer" in added
        listed = cli(data, ENV, "replication", "list")
        assert "from-peer" in listed and "every 3600s" in listed
        shown = cli(data, ENV, "replication", "show", "from-peer")
        assert '"has_credentials": true' in shown and "s3cret-pw" not in shown
        plan = cli(data, ENV, "replication", "run", "from-peer", "--dry-run")
        assert "planned  lib/tool:1.4.0 -> lib/tool:1.4.0" in plan
        assert "0.9.0" not in plan
        runs = cli(data, ENV, "replication", "runs", "from-peer")
        assert "manual (dry)" in runs and "1 planned, 0 skipped, 0 failed" in runs
    assert "no such replication policy" in _fails(data, "replication", "show", "nope")
    bad = _fails(data, "replication", "add", "x", "--url", "ftp://nowhere")
    assert "url: an http(s) URL" in bad
    assert "--interval" in _fails(data, "replication", "add", "y", "--url", "http://a.example",
                                  "--interval", "soon")  # fmt: skip
    cli(data, ENV, "replication", "remove", "from-peer")
    assert "from-peer" not in cli(data, ENV, "replication", "list")
