"""Identity changes are domain events (SQLite and PostgreSQL), stored in the transaction of the
change: projects, members, robots and users; project-level events name their project and have
no repository, user events neither. A refused change (a conflict, a missing member, no
permission) leaves no event."""

from __future__ import annotations

from typing import Any

import pytest

from dockyard.auth.grants import SYSTEM
from dockyard.auth.principal import Principal
from dockyard.core.errors import RegistryError
from dockyard.persistence.sql.outbox import SqlOutbox
from dockyard.persistence.sql.session import Database
from dockyard.services.identity.robots import RobotAccess
from dockyard.services.identity.wiring import IdentityServices
from unit.identity.conftest import Run

ROOT = Principal("cli:test", identity=SYSTEM, client="local")


def _events(run: Run[Any], database: Database) -> list[tuple[str, str, str, str | None]]:
    stored = run(SqlOutbox(database).events_after(0, 1000))
    return [(s.event.kind.value, s.event.target.project, s.event.target.name, s.event.actor)
            for s in stored if s.event.repository == ""]  # fmt: skip


def test_identity_changes_are_events(
    run: Run[Any], identity: IdentityServices, database: Database
) -> None:
    run(identity.users.create(ROOT, "alice", "alice-password"))
    run(identity.projects.create(ROOT, "team", public=True))
    run(identity.projects.update(ROOT, "team", public=False))
    member = run(identity.members.add(ROOT, "team", kind="user", name="alice", role="developer"))
    run(identity.members.update(ROOT, "team", member.id, "maintainer"))
    run(identity.members.remove(ROOT, "team", member.id))
    access = [RobotAccess("team", ("repository:pull",))]
    robot, _ = run(identity.robots.create(ROOT, "ci", project="team", access=access))
    run(identity.robots.update(ROOT, robot.id, disabled=True))
    run(identity.robots.regenerate(ROOT, robot.id))
    run(identity.robots.delete(ROOT, robot.id))
    run(identity.users.update(ROOT, "alice", email="alice@example.test"))
    run(identity.users.delete(ROOT, "alice"))
    run(identity.projects.delete(ROOT, "team"))
    assert _events(run, database) == [
        ("user.created", "", "alice", "cli:test"),
        ("project.created", "team", "", "cli:test"),
        ("project.updated", "team", "", "cli:test"),
        ("member.added", "team", "alice", "cli:test"),
        ("member.updated", "team", "", "cli:test"),
        ("member.removed", "team", "", "cli:test"),
        ("robot.created", "team", robot.name, "cli:test"),
        ("robot.updated", "team", robot.name, "cli:test"),
        ("robot.updated", "team", robot.name, "cli:test"),
        ("robot.deleted", "team", robot.name, "cli:test"),
        ("user.updated", "", "alice", "cli:test"),
        ("user.deleted", "", "alice", "cli:test"),
        ("project.deleted", "team", "", "cli:test"),
    ]
    details = [s.event.target.detail for s in run(SqlOutbox(database).events_after(0, 100))]
    assert details[3] == {"kind": "user", "role": "developer", "repositories": ""}
    assert details[8] == {"secret": True} and details[10] == {"fields": "email"}


def test_refused_identity_changes_leave_no_event(
    run: Run[Any], identity: IdentityServices, database: Database
) -> None:
    run(identity.projects.create(ROOT, "team"))
    before = _events(run, database)
    mallory = run(identity.users.create(ROOT, "mallory", "mallory-password"))
    nobody = Principal("mallory", identity=None)
    refusals: list[Any] = [
        lambda: identity.projects.create(ROOT, "team"),  # exists
        lambda: identity.members.add(ROOT, "team", kind="user", name="ghost", role="developer"),
        lambda: identity.members.remove(ROOT, "team", 4711),
        lambda: identity.users.delete(ROOT, "ghost"),
        lambda: identity.projects.delete(nobody, "team"),  # not allowed
    ]
    for refused in refusals:
        with pytest.raises(RegistryError):
            run(refused())
    assert mallory.name == "mallory"
    assert _events(run, database) == [*before, ("user.created", "", "mallory", "cli:test")]
