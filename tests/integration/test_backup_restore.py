"""``dockyard backup`` while pushes go on, and ``dockyard restore`` into an empty registry.

Real servers throughout: dockyard serving (SQLite or PostgreSQL, filesystem or SeaweedFS S3),
backups written to a directory or to an S3 bucket, restored into a new data directory,
database or bucket root; the restored registry is checked with ``dockyard fsck`` and by pulling
every tag and comparing it byte for byte with the original.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from support import postgres, seaweed
from support.backup import Pusher, assert_same_pulls, cli
from support.oci import make_image, push_image
from support.server import free_port, serving


@dataclass
class Setup:
    source_env: dict[str, str]
    target_env: dict[str, str]
    destination: str  # a directory or s3://...
    destination_env: dict[str, str]


def _embedded(factory: pytest.TempPathFactory, tmp: Path) -> Setup:
    return Setup({}, {}, str(tmp / "backup"), {})


def _weed_env(weed: seaweed.SeaweedFS) -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": weed.access_key,
        "AWS_SECRET_ACCESS_KEY": weed.secret_key,
        "AWS_ENDPOINT_URL": weed.endpoint,
        "AWS_REGION": "us-east-1",
    }


def _postgres_to_s3(factory: pytest.TempPathFactory, tmp: Path) -> Setup:
    """PostgreSQL + filesystem, backed up into an S3 bucket (SeaweedFS)."""
    if not postgres.available():
        pytest.skip("PostgreSQL is not installed (scripts/bootstrap --test)")
    server, weed = postgres.shared_server(), seaweed.session_seaweed(factory)
    destination = f"s3://{weed.bucket}/{seaweed.unique_root('backup')}"
    return Setup(
        {"REGISTRY_DOCKYARD_DATABASE": server.create_database("backup_src")},
        {"REGISTRY_DOCKYARD_DATABASE": server.create_database("backup_dst")},
        destination,
        _weed_env(weed),
    )


def _s3_storage(factory: pytest.TempPathFactory, tmp: Path) -> Setup:
    """SQLite + S3 storage (SeaweedFS), backed up into a directory."""
    weed = seaweed.session_seaweed(factory)
    source = {
        **weed.env(seaweed.unique_root("bk-src")),
        "REGISTRY_STORAGE_REDIRECT_DISABLE": "true",
    }
    target = {
        **weed.env(seaweed.unique_root("bk-dst")),
        "REGISTRY_STORAGE_REDIRECT_DISABLE": "true",
    }
    source["REGISTRY_DOCKYARD_DATABASE"] = f"sqlite:///{tmp / 'src-meta.db'}"
    target["REGISTRY_DOCKYARD_DATABASE"] = f"sqlite:///{tmp / 'dst-meta.db'}"
    return Setup(source, target, str(tmp / "backup"), {})


SETUPS: dict[str, Callable[[pytest.TempPathFactory, Path], Setup]] = {
    "sqlite-filesystem-to-directory": _embedded,
    "postgres-filesystem-to-s3": _postgres_to_s3,
    "sqlite-s3-to-directory": _s3_storage,
}


def _wait_for(condition: Callable[[], bool], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.parametrize("shape", sorted(SETUPS))
def test_backup_during_pushes_restores_byte_identical(
    shape: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    setup = SETUPS[shape](tmp_path_factory, tmp_path)
    source_env = {**setup.source_env, **setup.destination_env}
    target_env = {**setup.target_env, **setup.destination_env}
    restored_dir = tmp_path / "restored"
    with serving(tmp_path, env=setup.source_env) as server, server.client() as client:
        for index in range(3):
            push_image(client, "base/app", make_image(size=100_000), tag=f"v{index}")
        pusher = Pusher(server.url, "busy").start()
        _wait_for(lambda: len(pusher.pushed) >= 2)
        pushed_before = len(pusher.pushed)
        backup = cli(["backup", setup.destination, "--data-dir", str(server.data_dir)], source_env)
        pushed_after = len(pusher.pushed)
        _wait_for(lambda: len(pusher.pushed) >= pushed_after + 2)  # pushes went on meanwhile
        pusher.stop()
        assert backup.returncode == 0, backup.stderr
        assert pusher.errors == []

        into_source = cli(["restore", setup.destination, "--data-dir", str(server.data_dir)],
                          source_env)  # fmt: skip
        assert into_source.returncode == 1
        assert "restore: refused" in into_source.stderr

        if "REGISTRY_DOCKYARD_DATABASE" in setup.source_env:  # the source's database or bucket
            fresh = str(tmp_path / "fresh")
            into_database = cli(["restore", setup.destination, "--data-dir", fresh], source_env)
            assert into_database.returncode == 1 and "refused" in into_database.stderr

        restore = cli(["restore", setup.destination, "--data-dir", str(restored_dir)], target_env)
        assert restore.returncode == 0, restore.stderr
        fsck = cli(["fsck", "--rehash", "all", "--data-dir", str(restored_dir)], setup.target_env)
        assert fsck.returncode == 0, fsck.stdout + fsck.stderr
        assert ": 0 problems" in fsck.stdout

        with (
            serving(tmp_path, env=setup.target_env, data_dir=restored_dir) as second,
            second.client() as restored,
        ):
            tags = assert_same_pulls(client, restored)
        busy = {(repo, tag) for repo, tag, _ in pusher.pushed}
        assert {("base/app", f"v{i}") for i in range(3)} <= set(tags)
        in_backup = set(tags) & busy
        assert {(r, t) for r, t, _ in pusher.pushed[:pushed_before]} <= in_backup
        assert not in_backup & {(r, t) for r, t, _ in pusher.pushed[pushed_after:]}


def test_restore_refuses_a_target_with_a_database(tmp_path: Path) -> None:
    with serving(tmp_path, env={}) as server, server.client() as client:
        push_image(client, "a/b", make_image(), tag="v1")
        assert (
            cli(["backup", str(tmp_path / "bk"), "--data-dir", str(server.data_dir)], {}).returncode
            == 0
        )
    other = tmp_path / "other"
    with serving(tmp_path, env={}, data_dir=other) as server, server.client() as client:
        push_image(client, "x/y", make_image(layers=0), tag="v1")
    result = cli(["restore", str(tmp_path / "bk"), "--data-dir", str(other)], {})
    assert result.returncode == 1
    assert "refused" in result.stderr
    missing = cli(
        ["restore", str(tmp_path / "nothing-here"), "--data-dir", str(tmp_path / "n")], {}
    )
    assert missing.returncode == 1
    (tmp_path / "a-file").write_text("")
    unusable = cli(["backup", str(tmp_path / "a-file" / "x"), "--data-dir", str(other)], {})
    assert unusable.returncode == 1 and "backup: cannot use" in unusable.stderr
    assert "Traceback" not in unusable.stderr + missing.stderr


def test_export_refuses_bad_requests_and_writes_nothing(tmp_path: Path) -> None:
    with serving(tmp_path, env={}) as server, server.client() as client:
        push_image(client, "a/b", make_image(), tag="v1")
    data = ["--data-dir", str(server.data_dir)]
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "file").write_text("mine")
    not_empty = cli(["export", str(busy), "--repositories", "a/b", *data], {})
    assert not_empty.returncode == 1 and "is not empty" in not_empty.stderr
    assert [p.name for p in busy.iterdir()] == ["file"]
    nothing = cli(["export", str(tmp_path / "none"), "--repositories", "zzz/**", *data], {})
    assert nothing.returncode == 1 and "no repository matches zzz/**" in nothing.stderr
    assert not (tmp_path / "none").exists()
    neither = cli(["export", str(tmp_path / "x"), *data], {})
    assert neither.returncode == 2  # argparse: one of --repositories / --project is required
    not_layout = cli(["import-layout", str(busy), *data], {})
    assert not_layout.returncode == 1 and "not an OCI image layout" in not_layout.stderr


def test_the_last_complete_backup_shows_in_the_metrics(tmp_path: Path) -> None:
    debug = free_port()
    env = {"REGISTRY_HTTP_DEBUG_ADDR": f"127.0.0.1:{debug}"}
    with serving(tmp_path, env=env) as server, server.client() as client:
        push_image(client, "base/app", make_image(size=10_000), tag="v1")
        before = httpx.get(f"http://127.0.0.1:{debug}/metrics").text
        assert "\nregistry_backup_last_success_timestamp_seconds 0.0\n" in before, "0: never"
        started = time.time()
        backup = cli(["backup", str(tmp_path / "bk"), "--data-dir", str(server.data_dir)], {})
        assert backup.returncode == 0, backup.stderr
        data_dir = server.data_dir
    with serving(tmp_path, env=env, data_dir=data_dir):  # the gauges are set at start
        metrics = httpx.get(f"http://127.0.0.1:{debug}/metrics").text
    found = re.search(r"^registry_backup_last_success_timestamp_seconds (\S+)$", metrics, re.M)
    assert found, metrics
    assert started <= float(found.group(1)) <= time.time()
