"""The htpasswd file: re-read when it changes (edited in place or replaced), and a name it does
not hold costs a bcrypt check like a wrong password."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import bcrypt
import pytest

from dockyard.auth import htpasswd as htpasswd_module
from dockyard.auth.htpasswd import HtpasswdFile


def entry(user: str, password: str) -> str:
    return f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()}\n"


def verify(users: HtpasswdFile, user: str, password: str) -> bool:
    return asyncio.run(users.verify(user, password))


def test_changes_to_the_file_are_picked_up(tmp_path: Path) -> None:
    path = tmp_path / "htpasswd"
    path.write_text(entry("alice", "first-pass"))
    users = HtpasswdFile(str(path))
    assert verify(users, "alice", "first-pass")
    assert not verify(users, "bob", "bob-pass")
    path.write_text(entry("alice", "other-pass") + entry("bob", "bob-pass"))  # a new password
    assert verify(users, "bob", "bob-pass")
    assert not verify(users, "alice", "first-pass")  # the remembered success is forgotten too
    assert verify(users, "alice", "other-pass")
    path.write_text(entry("bob", "bob-pass"))
    assert not verify(users, "alice", "other-pass")
    assert users.stamp("alice") is None


def test_a_replaced_file_with_the_same_size_and_time_is_picked_up(tmp_path: Path) -> None:
    """Editors and config management write a new file and rename it over the old one."""
    path = tmp_path / "htpasswd"
    path.write_text(entry("alice", "first-pass"))
    users = HtpasswdFile(str(path))
    assert verify(users, "alice", "first-pass")
    before = path.stat()
    replacement = tmp_path / "htpasswd.new"
    replacement.write_text(entry("alice", "other-pass"))  # bcrypt hashes have one length
    os.utime(replacement, ns=(before.st_atime_ns, before.st_mtime_ns))
    os.replace(replacement, path)
    assert path.stat().st_size == before.st_size
    assert not verify(users, "alice", "first-pass")
    assert verify(users, "alice", "other-pass")


def test_an_unknown_name_costs_a_bcrypt_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "htpasswd"
    path.write_text(entry("alice", "first-pass"))
    users = HtpasswdFile(str(path))
    checked: list[bytes] = []
    real_check = htpasswd_module._check

    def counting(password: bytes, hashed: bytes) -> bool:
        checked.append(hashed[:7])
        return real_check(password, hashed)

    monkeypatch.setattr(htpasswd_module, "_check", counting)
    assert not verify(users, "alice", "wrong-pass")
    assert not verify(users, "nobody", "wrong-pass")
    assert checked == [b"$2b$04$", b"$2b$04$"]  # both paid for, at the file's own cost
