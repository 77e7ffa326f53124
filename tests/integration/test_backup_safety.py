"""What a backup guarantees beyond a plain copy: a second backup copies only new blobs, garbage
collection (even with a grace period of 0) cannot take a blob a running backup still needs,
a killed backup leaves the previous one usable, and jobs running at backup time are queued
again after a restore."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from dockyard.bootstrap_backup import build_backup
from dockyard.cli.serve import settings_for
from dockyard.services.backup.manifest import BackupManifest
from dockyard.storage.driver import FileWriter
from dockyard.storage.drivers.filesystem import FilesystemDriver
from support.backup import assert_same_pulls, backup_manifest, cli, registry_tags
from support.oci import make_image, push_image
from support.server import DOCKYARD, serving

DELETE_ON = {"REGISTRY_STORAGE_DELETE_ENABLED": "true"}


def test_second_backup_copies_only_new_blobs(tmp_path: Path) -> None:
    destination = tmp_path / "backup"
    with serving(tmp_path, env={}) as server, server.client() as client:
        for index in range(3):
            push_image(client, "app/one", make_image(layers=2), tag=f"v{index}")
        first = cli(["backup", str(destination), "--data-dir", str(server.data_dir)], {})
        assert first.returncode == 0, first.stderr
        before = backup_manifest(destination)
        assert before["copied_blobs"] == before["blob_count"] == 9

        push_image(client, "app/two", make_image(layers=3), tag="v1")  # 4 new blobs
        second = cli(["backup", str(destination), "--data-dir", str(server.data_dir)], {})
        assert second.returncode == 0, second.stderr
        after = backup_manifest(destination)
        assert after["id"] != before["id"]
        assert after["blob_count"] == 13
        assert after["copied_blobs"] == 4
        assert "copied 4 new blobs" in second.stdout

    older = tmp_path / "older"
    restored = cli(["restore", str(destination), "--backup", str(before["id"]),
                    "--data-dir", str(older)], {})  # fmt: skip
    assert restored.returncode == 0, restored.stderr
    fsck = cli(["fsck", "--data-dir", str(older)], {})
    assert "checked 9 blobs (0 re-hashed) and 3 manifests in 1 repositories: 0 problems" in (
        fsck.stdout
    )


class _GcOnFirstBlob(FilesystemDriver):
    """A backup destination that, when the first blob is about to be copied, has ``hook`` run
    (the images are deleted and a grace-0 GC runs while the backup still needs their blobs)."""

    def __init__(self, root: str, hook: Callable[[], None]) -> None:
        super().__init__(root, direct_writes=False)
        self.hook: Callable[[], None] | None = hook

    async def writer(self, path: str, *, append: bool) -> FileWriter:
        if "/staging/" in path and not path.endswith("/metadata") and self.hook is not None:
            hook, self.hook = self.hook, None
            hook()
        return await super().writer(path, append=append)


def test_gc_with_grace_zero_during_a_backup_keeps_what_it_needs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    destination = tmp_path / "backup"
    with serving(tmp_path, env=DELETE_ON) as server, server.client() as client:
        images = [make_image(layers=2, size=30_000) for _ in range(3)]
        for index, image in enumerate(images):
            push_image(client, "doomed/app", image, tag=f"v{index}")
        gc_runs: list[str] = []

        def delete_and_collect() -> None:
            for image in images:
                response = client.delete(f"/v2/doomed/app/manifests/{image.digest}")
                assert response.status_code == 202, response.text
            run = subprocess.run(
                [DOCKYARD, "gc", "--data-dir", str(server.data_dir), "--grace", "0s"],
                capture_output=True, text=True, timeout=120, check=True,
            )  # fmt: skip
            gc_runs.append(run.stdout)

        for key in [k for k in os.environ if k.startswith("REGISTRY_")]:
            monkeypatch.delenv(key)
        built = build_backup(settings_for(None, str(server.data_dir)))

        async def back_up() -> BackupManifest:
            await built.startup()
            try:
                store = _GcOnFirstBlob(str(destination), delete_and_collect)
                return await built.service.run(store)
            finally:
                await built.shutdown()

        manifest = asyncio.run(back_up())
        assert gc_runs and "and 0 blobs" in gc_runs[0], gc_runs  # the hold kept every one
        assert manifest.blob_count == 9
        for digest, size in manifest.blobs:
            hex_digest = digest.split(":", 1)[1]
            data = (destination / "docker/registry/v2/blobs/sha256" / hex_digest[:2] / hex_digest
                    / "data").read_bytes()  # fmt: skip
            assert len(data) == size

        # once the backup is over, the same GC does take them: they were garbage all along
        again = subprocess.run(
            [DOCKYARD, "gc", "--data-dir", str(server.data_dir), "--grace", "0s"],
            capture_output=True, text=True, timeout=120, check=True,
        )  # fmt: skip
        assert "and 9 blobs" in again.stdout, again.stdout

    restored = tmp_path / "restored"
    assert cli(["restore", str(destination), "--data-dir", str(restored)], {}).returncode == 0
    fsck = cli(["fsck", "--rehash", "all", "--data-dir", str(restored)], {})
    assert ": 0 problems" in fsck.stdout, fsck.stdout + fsck.stderr


def test_a_killed_backup_leaves_the_previous_one_usable(tmp_path: Path) -> None:
    destination = tmp_path / "backup"
    with serving(tmp_path, env={}) as server, server.client() as client:
        push_image(client, "kept/app", make_image(layers=2), tag="v1")
        first = cli(["backup", str(destination), "--data-dir", str(server.data_dir)], {})
        assert first.returncode == 0, first.stderr
        first_id = (destination / "latest").read_text()
        tags_then = registry_tags(client)
        for index in range(4):  # enough bytes that the kill lands while blobs are copied
            push_image(client, "later/app", make_image(layers=3, size=8_000_000), tag=f"v{index}")
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
        process = subprocess.Popen(
            [DOCKYARD, "backup", str(destination), "--data-dir", str(server.data_dir)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 120
        while (
            not any((destination / "backups").glob("*/metadata.sqlite"))
            or len(list((destination / "backups").glob("*/metadata.sqlite"))) < 2
        ):
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert (destination / "latest").read_text() == first_id
        unfinished = [p for p in (destination / "backups").iterdir() if p.name != first_id]
        assert unfinished and not (unfinished[0] / "manifest.json").exists()

        restored = tmp_path / "restored"
        result = cli(["restore", str(destination), "--data-dir", str(restored)], {})
        assert result.returncode == 0, result.stderr
        assert first_id in result.stdout
        with serving(tmp_path, env={}, data_dir=restored) as second, second.client() as other:
            assert registry_tags(other) == tags_then
            assert_same_pulls(client, other)

        again = cli(["backup", str(destination), "--data-dir", str(server.data_dir)], {})
        assert again.returncode == 0, again.stderr
        assert backup_manifest(destination)["blob_count"] == 3 + 16


def test_jobs_running_at_backup_time_are_queued_after_restore(tmp_path: Path) -> None:
    destination = tmp_path / "backup"
    with serving(tmp_path, env={}) as server, server.client() as client:
        push_image(client, "jobs/app", make_image(), tag="v1")
        database = server.data_dir / "dockyard" / "metadata.db"
        with sqlite3.connect(database) as conn:  # a job a worker holds right now
            conn.execute(
                "INSERT INTO jobs(kind, payload, state, run_after, lease_owner, lease_until, "
                "created_at, started_at) VALUES ('gc', '{}', 'running', 0, 'node-1', ?, 0, 0)",
                (time.time() + 600,),
            )
        result = cli(["backup", str(destination), "--data-dir", str(server.data_dir)], {})
        assert result.returncode == 0, result.stderr
    restored = tmp_path / "restored"
    result = cli(["restore", str(destination), "--data-dir", str(restored)], {})
    assert result.returncode == 0, result.stderr
    assert "1 interrupted jobs queued again" in result.stdout
    with sqlite3.connect(restored / "dockyard" / "metadata.db") as conn:
        state = conn.execute("SELECT state, lease_owner FROM jobs WHERE kind = 'gc'").fetchall()
    assert state == [("queued", "")]
