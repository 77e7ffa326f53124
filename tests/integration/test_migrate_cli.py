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
