"""``dockyard delete`` against a real server: preview, confirmation, what goes and what stays."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from support.oci import make_image, push_image
from support.server import DOCKYARD, RunningServer, serving

CONFIG = """
version: 0.1
dockyard:
  immutability:
    rules:
      - tags: "release-*"
"""
LINE = re.compile(r"^  (?:would )?(delete|untag)d? (\S+@sha256:[0-9a-f]{64}) \(([^)]*)\)")


def _delete(server: RunningServer, *args: str) -> subprocess.CompletedProcess[str]:
    config = ["--config", str(server.data_dir.parent / "config.yml")]
    command = [DOCKYARD, "delete", *args, *config, "--data-dir", str(server.data_dir)]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=60, check=False, stdin=subprocess.DEVNULL
    )


def _actions(output: str) -> set[tuple[str, str, str]]:
    found = (LINE.match(line) for line in output.splitlines())
    return {(m.group(1), m.group(2), m.group(3)) for m in found if m}


def test_bulk_delete_by_tag_pattern_and_untagged(tmp_path: Path) -> None:
    with serving(tmp_path, config=CONFIG) as server, server.client() as client:
        only_pr, shared, frozen = make_image(layers=1), make_image(layers=1), make_image(layers=1)
        push_image(client, "ci/app", only_pr, tag="pr-1")
        push_image(client, "ci/app", shared, tag="pr-2")
        push_image(client, "ci/app", shared, tag="latest")
        push_image(client, "ci/app", frozen, tag="pr-3")
        push_image(client, "ci/app", frozen, tag="release-3")
        push_image(client, "ci/app", make_image(layers=1))
        push_image(client, "other/app", make_image(layers=1), tag="pr-1")
        selection = ("--repo", "ci/*", "--tag", "pr-*", "--grace", "0s")

        preview = _delete(server, *selection, "--dry-run")
        assert preview.returncode == 0, preview.stderr
        both = _delete(server, "--repo", "ci/*", "--tag", "*-3", "--grace", "0s", "--dry-run")
        keep = f'  keep ci/app@{frozen.digest} (pr-3,release-3): tag "release-3" is immutable'
        assert keep in both.stdout, both.stdout
        refused = _delete(server, *selection)  # no terminal, no --yes
        assert refused.returncode == 1 and "nothing deleted" in refused.stderr
        done = _delete(server, *selection, "--yes")
        assert done.returncode == 0, done.stderr
        assert (
            _actions(done.stdout)
            == _actions(preview.stdout)
            == {
                ("delete", f"ci/app@{only_pr.digest}", "pr-1"),
                ("untag", f"ci/app@{shared.digest}", "pr-2"),
                ("untag", f"ci/app@{frozen.digest}", "pr-3"),
            }
        )
        assert client.get("/v2/ci/app/tags/list").json()["tags"] == ["latest", "release-3"]
        assert client.get(f"/v2/ci/app/manifests/{only_pr.digest}").status_code == 404
        assert client.get("/v2/other/app/manifests/pr-1").status_code == 200

        untagged = _delete(server, "--repo", "**", "--untagged", "--grace", "0s", "--yes")
        assert "deleted 1 manifests" in untagged.stdout, untagged.stdout
        assert _delete(server, "--repo", "**").returncode == 1, "some criterion is required"
        history = subprocess.run(
            [DOCKYARD, "retention", "history", "--data-dir", str(server.data_dir)],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        assert "dockyard delete --repo ci/* --tag pr-*" in history
