"""The identity stores on both backends: users, groups, projects, roles, members, grants,
robots, tokens, the audit log and the change generation."""

from __future__ import annotations

import time
from typing import Any

import pytest

from dockyard.persistence.identity_records import (
    AccessTokenRecord,
    AuditEvent,
    AuditQuery,
    MemberRecord,
    NewRobot,
    NewUser,
)
from dockyard.persistence.sql.accounts import SqlAccountStore
from dockyard.persistence.sql.audit import SqlAuditStore
from dockyard.persistence.sql.projects import SqlProjectStore
from dockyard.persistence.sql.robots import SqlRobotStore
from unit.identity.conftest import Run


def test_users_create_unique_update_delete(accounts: SqlAccountStore, run: Run[Any]) -> None:
    alice = run(accounts.create_user(NewUser("alice", password_hash="h", stamp="s1")))
    assert alice is not None and alice.name == "alice" and not alice.admin
    assert run(accounts.create_user(NewUser("alice", stamp="s2"))) is None
    changed = run(accounts.update_user("alice", is_admin=True, email="a@x", stamp="s3"))
    assert changed is not None and changed.admin and changed.email == "a@x"
    assert changed.stamp == "s3"
    assert run(accounts.count_admins()) == 1
    assert run(accounts.update_user("nobody", email="x")) is None
    run(accounts.create_user(NewUser("bob", stamp="b")))
    assert [u.name for u in run(accounts.list_users("", 10))] == ["alice", "bob"]
    assert [u.name for u in run(accounts.list_users("alice", 10))] == ["bob"]
    assert [u.name for u in run(accounts.list_users("", 10, "li"))] == ["alice"]
    assert run(accounts.delete_user("alice")) and not run(accounts.delete_user("alice"))
    assert run(accounts.get_user("alice")) is None


def test_groups_and_membership(accounts: SqlAccountStore, run: Run[Any]) -> None:
    run(accounts.create_user(NewUser("alice", stamp="s")))
    assert run(accounts.create_group("devs")) is not None
    assert run(accounts.create_group("devs")) is None
    assert run(accounts.set_group_member("devs", "alice", member=True))
    assert not run(accounts.set_group_member("devs", "alice", member=True))
    assert not run(accounts.set_group_member("devs", "nobody", member=True))
    assert run(accounts.group_members("devs")) == ["alice"]
    user = run(accounts.get_user("alice"))
    assert run(accounts.groups_of(user.id)) == ["devs"]
    assert run(accounts.set_group_member("devs", "alice", member=False))
    assert run(accounts.group_members("devs")) == []


def test_external_users_keep_their_groups_in_step(accounts: SqlAccountStore, run: Run[Any]) -> None:
    new = NewUser("carol", source="ldap", stamp="s")
    user = run(accounts.upsert_external_user(new, ["a", "b"]))
    assert user is not None and user.source == "ldap"
    assert run(accounts.groups_of(user.id)) == ["a", "b"]
    run(accounts.upsert_external_user(new, ["b", "c"]))
    assert run(accounts.groups_of(user.id)) == ["b", "c"]
    run(accounts.create_user(NewUser("dave", stamp="s")))
    assert run(accounts.upsert_external_user(NewUser("dave", source="ldap"), [])) is None


def test_projects_members_and_grants(
    accounts: SqlAccountStore, projects: SqlProjectStore, run: Run[Any]
) -> None:
    alice = run(accounts.create_user(NewUser("alice", stamp="s")))
    bob = run(accounts.create_user(NewUser("bob", stamp="s")))
    run(accounts.create_group("devs"))
    run(accounts.set_group_member("devs", "bob", member=True))
    made = run(projects.create_project("team-a", public=False, description="", created_by="x",
                                       owner_user_id=alice.id))  # fmt: skip
    assert made is not None and not made.public
    assert (
        run(projects.create_project("team-a", public=True, description="", created_by="x")) is None
    )
    run(projects.create_project("pub", public=True, description="", created_by="x"))
    assert run(projects.public_projects()) == ["pub"]
    added = run(projects.add_member("team-a", "group", "devs", "developer", "team-a/ci-*"))
    assert isinstance(added, MemberRecord) and added.kind == "group" and added.name == "devs"
    assert (
        run(projects.add_member("team-a", "group", "devs", "developer", "team-a/ci-*")) == "exists"
    )
    assert run(projects.add_member("nope", "user", "bob", "guest", "")) == "no_project"
    assert run(projects.add_member("team-a", "user", "nobody", "guest", "")) == "no_member"
    assert run(projects.add_member("team-a", "user", "bob", "nope", "")) == "no_role"
    grants = run(projects.grants_for_user(bob.id))
    assert [(g.project, g.repositories, g.role) for g in grants] == [
        ("team-a", "team-a/ci-*", "developer")
    ]
    owner = run(projects.grants_for_user(alice.id))
    assert [(g.project, g.role, g.builtin) for g in owner] == [("team-a", "admin", True)]
    updated = run(projects.update_member("team-a", added.id, "guest"))
    assert isinstance(updated, MemberRecord) and updated.role == "guest"
    assert run(projects.delete_member("team-a", added.id))
    assert run(projects.list_members("team-a"))[0].name == "alice"
    assert [p.name for p in run(projects.list_projects("", 10, names=["pub"]))] == ["pub"]
    assert [p.name for p in run(projects.list_projects("", 10, public=False))] == ["team-a"]


def test_roles(projects: SqlProjectStore, run: Run[Any]) -> None:
    names = [r.name for r in run(projects.list_roles())]
    assert names[:4] == ["admin", "maintainer", "developer", "guest"]
    role = run(projects.save_role("pusher", "", ["repository:push"], create=True))
    assert role is not None and role.permissions == ("repository:push",) and not role.builtin
    assert run(projects.save_role("pusher", "", [], create=True)) is None
    assert run(projects.save_role("admin", "", ["repository:pull"], create=False)) is None
    assert run(projects.delete_role("admin")) == "builtin"
    run(projects.create_project("p", public=False, description="", created_by="x"))
    assert run(projects.delete_role("pusher")) == "deleted"
    assert run(projects.delete_role("pusher")) == "missing"


def test_project_repositories_by_prefix(
    database: Any, projects: SqlProjectStore, run: Run[Any]
) -> None:
    for name in ("team", "team/a", "team/b/c", "team-x/a", "teamz"):
        run(database.execute("INSERT INTO repositories(name, created_at) VALUES (?, 0)", (name,)))
    assert run(projects.project_repositories("team", "", 10)) == ["team", "team/a", "team/b/c"]
    assert run(projects.project_repositories("team", "team/a", 10)) == ["team/b/c"]


def test_robots(projects: SqlProjectStore, robots: SqlRobotStore, run: Run[Any]) -> None:
    run(projects.create_project("p", public=False, description="", created_by="x"))
    new = NewRobot("robot$p+ci", "p", "", "hash", "[]", None, "admin")
    robot = run(robots.create_robot(new))
    assert not isinstance(robot, str) and robot.project == "p"
    assert run(robots.create_robot(new)) == "exists"
    orphan = NewRobot("robot$q+x", "q", "", "h", "[]", None, "admin")
    assert run(robots.create_robot(orphan)) == "no_project"
    system = run(robots.create_robot(NewRobot("robot$sys", None, "", "h", "[]", None, "a")))
    assert [r.name for r in run(robots.list_robots("p", 0, 10))] == ["robot$p+ci"]
    assert [r.name for r in run(robots.list_robots(None, 0, 10))] == ["robot$sys"]
    assert len(run(robots.list_robots("*", 0, 10))) == 2
    assert [r.name for r in run(robots.list_robots("p", 0, 10, "ci"))] == ["robot$p+ci"]
    assert run(robots.list_robots("p", 0, 10, "sys")) == []
    assert [r.name for r in run(robots.list_robots("*", 0, 10, "$s"))] == ["robot$sys"]
    assert run(robots.list_robots("*", 0, 10, "%")) == []  # LIKE wildcards match themselves
    disabled = run(robots.update_robot(robot.id, disabled=True))
    assert disabled is not None and disabled.disabled
    assert run(robots.delete_robot(system.id))
    run(projects.delete_project("p"))
    assert run(robots.get_robot("robot$p+ci")) is None  # gone with its project


def test_tokens(accounts: SqlAccountStore, run: Run[Any]) -> None:
    run(accounts.create_user(NewUser("alice", stamp="s")))
    record = AccessTokenRecord(
        "0123456789abcdef", "alice", "ci", "h", ("repository:pull",), None, 1.0
    )
    assert run(accounts.create_token(record)) == record
    assert run(accounts.get_token(record.id)) == record
    orphan = AccessTokenRecord("1123456789abcdef", "nobody", "ci", "h", (), None, 1.0)
    assert run(accounts.create_token(orphan)) is None
    assert run(accounts.list_tokens("alice")) == [record]
    run(accounts.delete_user("alice"))
    assert run(accounts.get_token(record.id)) is None  # gone with the user


def test_audit_query_and_export_order(audit_store: SqlAuditStore, run: Run[Any]) -> None:
    now = time.time()
    for i, (actor, event) in enumerate([("a", "login"), ("b", "user.create"), ("a", "user.delete"),
                                        ("c", "login")]):  # fmt: skip
        run(audit_store.append(AuditEvent(actor, "user", event, "success", created_at=now + i)))
    newest = run(audit_store.query(AuditQuery(limit=10)))
    assert [e.event for e in newest] == ["login", "user.delete", "user.create", "login"]
    assert [e.actor for e in run(audit_store.query(AuditQuery(event="user.")))] == ["a", "b"]
    assert len(run(audit_store.query(AuditQuery(actor="a", event="login")))) == 1
    oldest = run(audit_store.query(AuditQuery(after_id=0, limit=2)))
    assert [e.actor for e in oldest] == ["a", "b"]
    assert len(run(audit_store.query(AuditQuery(since=now + 2)))) == 2


def test_audit_retention_deletes_only_older_events_in_batches(
    audit_store: SqlAuditStore, run: Run[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """dockyard.identity.auditretention: everything recorded before now - retention goes,
    in batches (3 here, so the loop has to come back), and nothing newer."""
    from dockyard.services.identity import audit_retention

    monkeypatch.setattr(audit_retention, "BATCH", 3)
    now = 1_000_000.0
    ages = [10_000, 9_000, 8_000, 7_000, 6_000, 5_000, 4_000, 100, 10]  # seconds before now
    for i, age in enumerate(ages):
        event = AuditEvent(f"u{i}", "user", "login", "success", created_at=now - age)
        run(audit_store.append(event))
    pruner = audit_retention.AuditPruner(audit_store, 3_600, clock=lambda: now)
    assert run(pruner.prune_once()) == 7
    left = run(audit_store.query(AuditQuery(limit=100)))
    assert sorted(e.actor for e in left) == ["u7", "u8"]
    assert run(pruner.prune_once()) == 0


def test_every_change_moves_the_generation(
    accounts: SqlAccountStore, projects: SqlProjectStore, run: Run[Any]
) -> None:
    before = run(projects.generation())
    run(accounts.create_user(NewUser("alice", stamp="s")))
    middle = run(projects.generation())
    run(projects.create_project("p", public=True, description="", created_by="x"))
    assert before < middle < run(projects.generation())
    unchanged = run(projects.generation())
    run(accounts.update_user("nobody", email="x"))
    assert run(projects.generation()) == unchanged
