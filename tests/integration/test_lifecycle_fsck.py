"""``dockyard fsck`` on a real server's storage: find, report, quarantine, then heal by re-push."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

from support.oci import make_image, push_image, sha256
from support.server import DOCKYARD, RunningServer, serving


def _fsck(server: RunningServer, *args: str) -> subprocess.CompletedProcess[str]:
    command = [DOCKYARD, "fsck", *args, "--data-dir", str(server.data_dir)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def _blob_file(server: RunningServer, data: bytes) -> Path:
    hex_digest = sha256(data).removeprefix("sha256:")
    return (
        server.data_dir / "docker/registry/v2/blobs/sha256" / hex_digest[:2] / hex_digest / "data"
    )


def test_fsck_finds_quarantines_and_a_push_heals(tmp_path: Path) -> None:
    with serving(tmp_path) as server, server.client() as client:
        first, second = make_image(layers=2), make_image(layers=1)
        second.layers.append(first.layers[0])  # not in its manifest: just shared bytes
        push_image(client, "team/a", first, tag="v1")
        push_image(client, "team/b", second, tag="v1")
        third = make_image(layers=1)
        push_image(client, "team/c", third, tag="v1")
        assert _fsck(server, "--rehash", "all").returncode == 0

        corrupt = _blob_file(server, first.layers[1])
        corrupt.write_bytes(b"X" * len(first.layers[1]))
        _blob_file(server, second.layers[0]).unlink()
        database = sqlite3.connect(server.data_dir / "dockyard/metadata.db")
        database.execute("UPDATE manifests SET content = ? WHERE digest = ?",
                         (third.manifest + b" ", third.digest))  # fmt: skip
        database.commit()
        database.close()

        quick = _fsck(server)
        assert quick.returncode == 1
        assert f"blob {sha256(second.layers[0])}: bytes missing" in quick.stdout
        assert f"blob {sha256(first.layers[1])}" not in quick.stdout, "same size: needs --rehash"
        assert f"team/c@{third.digest} (tags: v1): content hashes to sha256:" in quick.stdout
        full = _fsck(server, "--rehash", "all")
        assert f"blob {sha256(first.layers[1])}: content hashes to sha256:" in full.stdout
        assert f"team/a@{first.digest} (tags: v1): references broken blob" in full.stdout
        assert client.get(f"/v2/team/a/blobs/{sha256(first.layers[1])}").status_code == 200

        fixed = _fsck(server, "--rehash", "all", "--quarantine")
        assert fixed.returncode == 1 and "5 problems, 3 quarantined" in fixed.stdout, fixed.stdout
        assert not corrupt.exists()
        set_aside = list((server.data_dir / "dockyard/quarantine").rglob("data"))
        assert [p.read_bytes() for p in set_aside] == [b"X" * len(first.layers[1])]
        assert list((server.data_dir / "dockyard/quarantine").rglob("manifest"))
        assert client.get(f"/v2/team/a/blobs/{sha256(first.layers[1])}").status_code == 404
        assert client.get("/v2/team/c/manifests/v1").status_code == 404
        history = subprocess.run(
            [DOCKYARD, "retention", "history", "--data-dir", str(server.data_dir)],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        assert history.count("fsck --quarantine") == 3, history

        for repository, image in (("team/a", first), ("team/b", second), ("team/c", third)):
            push_image(client, repository, image, tag="v1")
        healed = _fsck(server, "--rehash", "all")
        assert healed.returncode == 0, healed.stdout
        for blob in first.layers:
            assert client.get(f"/v2/team/a/blobs/{sha256(blob)}").content == blob
