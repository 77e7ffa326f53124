"""The htpasswd watch on both backends: users the file drops lose their personal access tokens
and their stamp (refresh tokens); a changed hash renews the stamp; nothing happens twice, on a
half-seen change, for an empty file, or to local users."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import bcrypt

from dockyard.auth.htpasswd import HtpasswdFile
from dockyard.persistence.identity_records import AccessTokenRecord, AuditQuery, NewUser
from dockyard.services.identity.htpasswd_watch import HtpasswdWatch
from dockyard.services.identity.wiring import IdentityServices
from unit.identity.conftest import Run

_LINES: dict[tuple[str, str], str] = {}


def entry(user: str, password: str) -> str:
    """The same line each time for the same user and password (bcrypt salts anew)."""
    if (user, password) not in _LINES:
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
        _LINES[user, password] = f"{user}:{hashed}\n"
    return _LINES[user, password]


def rewrite(path: Path, text: str) -> None:
    """Replace the file so that the watch sees another version (another inode)."""
    fresh = path.with_suffix(".new")
    fresh.write_text(text)
    os.replace(fresh, path)


class World:
    def __init__(self, identity: IdentityServices, path: Path, run: Run[Any]) -> None:
        self.identity, self.path, self.run = identity, path, run
        self.accounts = identity.directory.accounts

    def watch(self) -> HtpasswdWatch:
        file = HtpasswdFile(str(self.path))
        return HtpasswdWatch(file, self.identity.directory, self.identity.audit, interval=0)

    def settle(self, watch: HtpasswdWatch) -> int:
        """Two looks: the first sees the change, the second acts on it."""
        assert self.run(watch.check()) == 0
        return int(self.run(watch.check()))

    def record(self, name: str, source: str = "htpasswd") -> str:
        new = NewUser(name, source=source, stamp=f"stamp-{name}")
        if source == "local":
            self.run(self.accounts.create_user(new))
        else:
            self.run(self.accounts.upsert_external_user(new, ()))
        token = AccessTokenRecord(f"t-{name}", name, "laptop", "h", (), time.time() + 3600, 0.0)
        self.run(self.accounts.create_token(token))
        return token.id

    def stamp(self, name: str) -> str:
        user = self.run(self.accounts.get_user(name))
        assert user is not None
        return str(user.stamp)

    def tokens(self, name: str) -> list[str]:
        return [t.id for t in self.run(self.accounts.list_tokens(name))]

    def revocations(self) -> list[tuple[str, str]]:
        query = AuditQuery(event="user.tokens.revoke", after_id=0, limit=100)
        events = self.run(self.identity.audit.store.query(query))
        return [(e.target, json.loads(e.detail_json)["reason"]) for e in events]


def test_removed_and_changed_users_lose_their_tokens(
    identity: IdentityServices, tmp_path: Path, run: Run[Any]
) -> None:
    path = tmp_path / "htpasswd"
    path.write_text(entry("gone", "pw-1") + entry("moved", "pw-2") + entry("stays", "pw-3"))
    world = World(identity, path, run)
    for name in ("gone", "moved", "stays"):
        world.record(name)
    world.record("local-gone", source="local")  # not in the file, but not an htpasswd user
    watch = world.watch()
    assert world.settle(watch) == 0  # the first comparison notes what the file holds
    assert [world.stamp(n) for n in ("gone", "moved")] == ["stamp-gone", "stamp-moved"]
    rewrite(path, entry("moved", "new-password") + entry("stays", "pw-3"))
    assert world.settle(watch) == 2
    assert world.tokens("gone") == [] and world.stamp("gone") != "stamp-gone"
    assert world.tokens("moved") == ["t-moved"] and world.stamp("moved") != "stamp-moved"
    assert world.stamp("stays") == "stamp-stays" and world.tokens("stays") == ["t-stays"]
    assert world.tokens("local-gone") == ["t-local-gone"]
    assert sorted(world.revocations()) == [
        ("user:gone", "removed from the htpasswd file"),
        ("user:moved", "password changed in the file"),
    ]
    stamps = {n: world.stamp(n) for n in ("gone", "moved")}
    assert run(watch.check()) == 0  # nothing changed since
    assert world.settle(world.watch()) == 0  # another node, or after a restart: already done
    assert {n: world.stamp(n) for n in ("gone", "moved")} == stamps


def test_changes_made_while_no_server_ran_are_found(
    identity: IdentityServices, tmp_path: Path, run: Run[Any]
) -> None:
    path = tmp_path / "htpasswd"
    path.write_text(entry("ann", "pw-1") + entry("ben", "pw-2"))
    world = World(identity, path, run)
    world.record("ann")
    world.record("ben")
    assert world.settle(world.watch()) == 0
    rewrite(path, entry("ben", "pw-changed"))  # while stopped
    assert world.settle(world.watch()) == 2
    assert world.tokens("ann") == [] and world.stamp("ann") != "stamp-ann"
    assert world.stamp("ben") != "stamp-ben"


def test_half_seen_empty_or_missing_files_revoke_nothing(
    identity: IdentityServices, tmp_path: Path, run: Run[Any]
) -> None:
    path = tmp_path / "htpasswd"
    path.write_text(entry("cat", "pw-1"))
    world = World(identity, path, run)
    world.record("cat")
    watch = world.watch()
    assert world.settle(watch) == 0
    rewrite(path, "")  # a rewrite caught in the middle, or a mistake
    assert world.settle(watch) == 0
    path.unlink()
    assert world.settle(watch) == 0
    rewrite(path, "# nobody\n" + entry("dan", "pw"))
    assert run(watch.check()) == 0  # seen once: it may still be changing
    rewrite(path, entry("cat", "pw-1"))  # back as it was before the next look
    assert world.settle(watch) == 0
    assert world.stamp("cat") == "stamp-cat"
    assert world.tokens("cat") == ["t-cat"] and world.revocations() == []


def test_a_user_back_in_the_file_is_not_revoked_again(
    identity: IdentityServices, tmp_path: Path, run: Run[Any]
) -> None:
    path = tmp_path / "htpasswd"
    path.write_text(entry("eve", "pw-1") + entry("other", "pw"))
    world = World(identity, path, run)
    world.record("eve")
    watch = world.watch()
    assert world.settle(watch) == 0
    rewrite(path, entry("other", "pw"))
    assert world.settle(watch) == 1
    revoked = world.stamp("eve")
    rewrite(path, entry("eve", "pw-again") + entry("other", "pw"))
    assert world.settle(watch) == 0
    assert world.stamp("eve") == revoked and len(world.revocations()) == 1
