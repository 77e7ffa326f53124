"""The CLI and its data directory, through the real ``dockyard`` command: run from the wrong
directory, a reading command refuses instead of making an empty registry; a creating command
says where it writes; what dockyard creates is the owner's alone; a password prompt without a
terminal is one line, not a traceback."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
from pathlib import Path

import pytest

from support.identity import identity_env
from support.server import DOCKYARD

READERS = [
    ("user", "list"),
    ("project", "list"),
    ("robot", "list"),
    ("audit", "export"),
    ("gc", "--dry-run"),
    ("gc",),
    ("fsck",),
    ("quota", "list"),
    ("immutable", "list"),
    ("jobs",),
    ("events", "list"),
    ("retention", "history"),
    ("maintenance", "readonly", "status"),
    ("token", "list"),
    ("delete", "--repo", "**", "--untagged", "--dry-run"),
]


def dockyard(cwd: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")} | identity_env()
    return subprocess.run(
        [DOCKYARD, *args], input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True, text=True, env=env, cwd=cwd, timeout=60, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("command", READERS, ids=" ".join)
def test_reading_commands_refuse_a_missing_data_directory(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    done = dockyard(tmp_path, *command)
    expected = f"error: data directory {tmp_path / 'dockyard-data'} does not exist"
    assert done.returncode == 1, done
    assert done.stderr.startswith(expected), done.stderr
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert not (tmp_path / "dockyard-data").exists()
    elsewhere = dockyard(tmp_path, *command, "--data-dir", str(tmp_path / "nowhere"))
    assert elsewhere.stderr.startswith(f"error: data directory {tmp_path / 'nowhere'} does not")
    assert not (tmp_path / "nowhere").exists()


def test_creating_commands_say_where_and_keep_it_private(tmp_path: Path) -> None:
    data = tmp_path / "dockyard-data"
    made = dockyard(tmp_path, "user", "add", "root", "--admin", "--password-stdin",
                    stdin="a-long-password\n")  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert made.stderr == f"dockyard: created data directory {data}\n"
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE((data / "dockyard").stat().st_mode) == 0o700
    database = data / "dockyard" / "metadata.db"
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
    listed = dockyard(tmp_path, "user", "list")  # now it exists: no line about it
    assert listed.returncode == 0 and listed.stderr == "" and "root" in listed.stdout
    again = dockyard(tmp_path, "migrate")
    assert again.returncode == 0 and "created data directory" not in again.stderr
    with sqlite3.connect(database) as connection:  # a writer makes -wal and -shm: 0600 too
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("CREATE TABLE IF NOT EXISTS probe (x)")
        connection.execute("INSERT INTO probe VALUES (1)")
        for suffix in ("-wal", "-shm"):
            extra = Path(f"{database}{suffix}")
            assert stat.S_IMODE(extra.stat().st_mode) == 0o600, suffix


def test_an_operators_directory_keeps_its_mode_and_a_readable_database_is_narrowed(
    tmp_path: Path,
) -> None:
    data = tmp_path / "srv"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)  # noqa: S103 - an operator-made directory, as it may be
    (data / "dockyard").mkdir()
    database = data / "dockyard" / "metadata.db"
    database.touch(mode=0o644)
    os.chmod(database, 0o644)
    done = dockyard(tmp_path, "migrate", "--data-dir", str(data))
    assert done.returncode == 0, done.stderr
    assert "created data directory" not in done.stderr
    assert stat.S_IMODE(data.stat().st_mode) == 0o755
    assert stat.S_IMODE(database.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    "command", [("user", "add", "bob"), ("user", "passwd", "bob")], ids=" ".join
)
def test_a_password_prompt_without_a_terminal_is_one_line(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    data = str(tmp_path / "data")
    made = dockyard(tmp_path, "user", "add", "bob", "--password-stdin", "--data-dir", data,
                    stdin="first-password\n")  # fmt: skip
    assert made.returncode == 0, made.stderr
    done = dockyard(tmp_path, *command, "--data-dir", data)
    assert done.returncode == 1
    assert done.stderr == "error: no terminal to ask for the password on: pass --password-stdin\n"
    changed = dockyard(tmp_path, "user", "passwd", "bob", "--password-stdin", "--data-dir", data,
                       stdin="second-password\n")  # fmt: skip
    assert changed.returncode == 0, changed.stderr
