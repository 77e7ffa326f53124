"""``dockyard migrate``: applies pending migrations on either backend and prints the version."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import psycopg
import pytest

from dockyard.persistence.sqlite.schema import MIGRATIONS
from support import postgres
from support.server import DOCKYARD, free_port

SCHEMA_VERSION = len(MIGRATIONS)


def migrate(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    return subprocess.run(
        [DOCKYARD, "migrate", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_migrate_sqlite_default_location(tmp_path: Path) -> None:
    for _ in range(2):  # a second run finds nothing to do
        done = migrate(cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert f"schema version: {SCHEMA_VERSION}" in done.stdout
    assert (tmp_path / "dockyard-data" / "dockyard" / "metadata.db").is_file()


@pytest.mark.skipif(not postgres.available(), reason="PostgreSQL not installed")
def test_migrate_postgres_from_a_config_file(tmp_path: Path) -> None:
    url = postgres.shared_server().create_database("cli")
    config = tmp_path / "config.yml"
    config.write_text(f"version: 0.1\ndockyard:\n  database: {url}\n")
    done = migrate("--config", str(config), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"schema version: {SCHEMA_VERSION}" in done.stdout
    assert postgres.PASSWORD not in done.stdout + done.stderr, "the password is never printed"
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM repositories").fetchone() == (0,)


def test_migrate_unreachable_postgres_fails_cleanly(tmp_path: Path) -> None:
    config = tmp_path / "config.yml"
    url = f"postgresql://u:secret@127.0.0.1:{free_port()}/none"
    config.write_text(f"version: 0.1\ndockyard:\n  database: {url}\n")
    done = migrate("--config", str(config), cwd=tmp_path)
    assert done.returncode == 1
    assert "migrate: metadata database unavailable" in done.stderr
    assert "Traceback" not in done.stderr


def test_check_lists_what_would_run_and_to_moves_back_and_forth(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path / "data")]
    missing = migrate("--check", *data, cwd=tmp_path)
    assert missing.returncode == 1 and "does not exist" in missing.stderr, "--check creates nothing"
    assert not (tmp_path / "data").exists()
    assert migrate("--to", "3", *data, cwd=tmp_path).returncode == 0
    pending = migrate("--check", *data, cwd=tmp_path)
    assert pending.returncode == 1, pending.stderr
    assert "schema version: 3" in pending.stdout
    assert f"would apply {SCHEMA_VERSION - 3} step(s) to reach version {SCHEMA_VERSION}" in (
        pending.stdout
    )
    assert "  up 4: CREATE TABLE" in pending.stdout
    assert migrate(*data, cwd=tmp_path).returncode == 0
    done = migrate("--check", *data, cwd=tmp_path)
    assert done.returncode == 0 and f"nothing to do: the schema is at version {SCHEMA_VERSION}" in (
        done.stdout
    )
    back = SCHEMA_VERSION - 1
    undo = migrate("--check", "--to", str(back), *data, cwd=tmp_path)
    assert undo.returncode == 1 and f"  down {SCHEMA_VERSION}: DROP " in undo.stdout
    moved = migrate("--to", str(back), *data, cwd=tmp_path)
    assert moved.returncode == 0 and f"schema version: {back}" in moved.stdout, moved.stderr
    refused = migrate("--to", "2", *data, cwd=tmp_path)
    assert refused.returncode == 1 and "cannot be undone" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert f"schema version: {back}" in migrate("--check", *data, cwd=tmp_path).stdout
