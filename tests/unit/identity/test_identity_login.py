"""Logins (passwords, robots, personal access tokens), throttling, revocation, create on push,
and the management services' checks, on both backends."""

from __future__ import annotations

import time
from typing import Any

import pytest

from dockyard.auth.grants import SYSTEM
from dockyard.auth.policy import Action
from dockyard.auth.principal import Principal
from dockyard.auth.secrets import hash_password
from dockyard.auth.token_service import InvalidCredentialsError
from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.persistence.identity_records import NewUser
from dockyard.services.identity.common import IdentityOptions
from dockyard.services.identity.records import AuditQuery
from dockyard.services.identity.robots import RobotAccess
from dockyard.services.identity.throttle import LoginThrottle
from dockyard.services.identity.wiring import IdentityServices
from unit.identity.conftest import Run

ROOT = Principal("cli:test", identity=SYSTEM, client="local")


def setup(identity: IdentityServices, run: Run[Any]) -> None:
    run(identity.users.create(ROOT, "alice", "alice-password"))
    run(identity.users.create(ROOT, "bob", "bob-password"))
    run(identity.projects.create(ROOT, "team"))
    run(identity.members.add(ROOT, "team", kind="user", name="alice", role="developer"))


def login(identity: IdentityServices, run: Run[Any], user: str, password: str) -> Principal:
    result: Principal = run(identity.login.login(user, password, "10.0.0.1"))
    return result


def test_password_login_and_grants(identity: IdentityServices, run: Run[Any]) -> None:
    setup(identity, run)
    alice = login(identity, run, "alice", "alice-password")
    policy = identity.login.policy
    assert policy.allows(alice, Action.PUSH, "team/app")
    assert not policy.allows(login(identity, run, "bob", "bob-password"), Action.PULL, "team/app")
    for user, password in (("alice", "wrong-password"), ("nobody", "whatever"), ("", "x")):
        with pytest.raises(InvalidCredentialsError, match="invalid username or password"):
            login(identity, run, user, password)
    events = run(identity.audit.store.query(AuditQuery(event="login", outcome="failure")))
    assert {e.actor for e in events} == {"alice", "nobody", ""}
    assert all(e.client == "10.0.0.1" for e in events)


def test_failed_logins_are_throttled_per_user_and_address(
    identity: IdentityServices, run: Run[Any]
) -> None:
    setup(identity, run)
    for _ in range(3):
        with pytest.raises(InvalidCredentialsError):
            login(identity, run, "ghost", "nope-nope")
    with pytest.raises(RegistryError) as refused:
        login(identity, run, "ghost", "nope-nope")
    assert refused.value.code is ErrorCode.TOOMANYREQUESTS
    assert int(refused.value.headers["Retry-After"]) >= 1
    assert login(identity, run, "alice", "alice-password").name == "alice"  # others still work


def test_failures_from_one_address_never_lock_the_name_out_of_another(
    identity: IdentityServices, run: Run[Any]
) -> None:
    setup(identity, run)
    for _ in range(3):  # a stranger guesses alice's password from 10.0.0.1
        with pytest.raises(InvalidCredentialsError):
            login(identity, run, "alice", "guessing")
    with pytest.raises(RegistryError) as refused:
        login(identity, run, "alice", "alice-password")
    assert refused.value.code is ErrorCode.TOOMANYREQUESTS  # from the address that failed
    elsewhere = run(identity.login.login("alice", "alice-password", "10.0.0.2"))
    assert elsewhere.name == "alice"


def test_throttle_counts_a_name_per_address() -> None:
    throttle = LoginThrottle(per_user=2, per_client=100, window=60, clock=lambda: 0.0)
    for _ in range(2):
        throttle.failed("admin", "192.0.2.66")
    with pytest.raises(RegistryError):
        throttle.check("admin", "192.0.2.66")
    throttle.check("admin", "192.0.2.10")  # the administrator's own address did not fail
    throttle.check("other", "192.0.2.66")  # below the per-address limit
    throttle.failed("admin", "192.0.2.10")
    throttle.succeeded("admin", "192.0.2.10")  # clears only its own address
    with pytest.raises(RegistryError):
        throttle.check("admin", "192.0.2.66")


def test_throttle_per_client_and_window() -> None:
    now = [0.0]
    throttle = LoginThrottle(per_user=100, per_client=2, window=60, clock=lambda: now[0])
    throttle.failed("a", "1.2.3.4")
    throttle.failed("b", "1.2.3.4")
    with pytest.raises(RegistryError) as refused:
        throttle.check("c", "1.2.3.4")
    assert refused.value.headers["Retry-After"] == "60"
    throttle.check("c", "5.6.7.8")
    now[0] = 61.0
    throttle.check("c", "1.2.3.4")


def test_robot_login_revocation_and_expiry(identity: IdentityServices, run: Run[Any]) -> None:
    setup(identity, run)
    access = [RobotAccess("team", ("repository:pull",), "")]
    robot, secret = run(identity.robots.create(ROOT, "ci", project="team", access=access))
    assert robot.name == "robot$team+ci"
    bot = login(identity, run, robot.name, secret)
    assert identity.login.policy.allows(bot, Action.PULL, "team/app")
    assert not identity.login.policy.allows(bot, Action.PUSH, "team/app")
    with pytest.raises(InvalidCredentialsError):
        login(identity, run, robot.name, "not-the-secret")
    run(identity.robots.update(ROOT, robot.id, disabled=True))
    assert run(identity.login.resolve(robot.name, "", "")) is None
    with pytest.raises(InvalidCredentialsError):
        login(identity, run, robot.name, secret)
    short, short_secret = run(identity.robots.create(ROOT, "short", project="team", access=access,
                                                     expires_in=0.2))  # fmt: skip
    assert login(identity, run, short.name, short_secret)
    time.sleep(0.3)
    assert run(identity.login.resolve(short.name, "", "")) is None


def test_system_robots_reach_one_project_or_every_one(
    identity: IdentityServices, run: Run[Any]
) -> None:
    setup(identity, run)
    run(identity.projects.create(ROOT, "other"))
    everywhere = [RobotAccess("*", ("repository:pull",), "")]
    scanner, secret = run(identity.robots.create(ROOT, "scanner", project=None, access=everywhere))
    assert scanner.name == "robot$scanner"
    bot = login(identity, run, scanner.name, secret)
    policy = identity.login.policy
    assert all(policy.allows(bot, Action.PULL, repo) for repo in ("team/app", "other/x/y"))
    assert not policy.allows(bot, Action.PUSH, "team/app")
    one = [RobotAccess("team", ("repository:pull", "repository:push"), "ci-*")]
    ci, ci_secret = run(identity.robots.create(ROOT, "ci-pusher", project=None, access=one))
    pusher = login(identity, run, ci.name, ci_secret)
    assert policy.allows(pusher, Action.PUSH, "team/ci-app")
    assert not policy.allows(pusher, Action.PULL, "team/app")
    assert not policy.allows(pusher, Action.PULL, "other/ci-app")
    alice = login(identity, run, "alice", "alice-password")  # not an administrator
    with pytest.raises(RegistryError) as refused:
        run(identity.robots.create(alice, "mine", project=None, access=everywhere))
    assert refused.value.code is ErrorCode.DENIED


def test_robot_cannot_get_more_than_its_manager(identity: IdentityServices, run: Run[Any]) -> None:
    setup(identity, run)
    run(identity.members.add(ROOT, "team", kind="user", name="bob", role="maintainer"))
    bob = login(identity, run, "bob", "bob-password")
    access = [RobotAccess("team", ("repository:pull",), "")]
    run(identity.robots.create(bob, "mine", project="team", access=access))
    with pytest.raises(RegistryError) as denied:
        boss = [RobotAccess("team", ("member:manage",), "")]
        run(identity.robots.create(bob, "boss", project="team", access=boss))
    assert denied.value.code is ErrorCode.DENIED
    with pytest.raises(RegistryError):
        run(identity.robots.create(bob, "sys", project=None, access=access))


def test_personal_access_tokens(identity: IdentityServices, run: Run[Any]) -> None:
    setup(identity, run)
    alice = login(identity, run, "alice", "alice-password")
    record, secret = run(identity.tokens.create(alice, "ci", permissions=["repository:pull"]))
    via_token = login(identity, run, "alice", secret)
    policy = identity.login.policy
    assert policy.allows(via_token, Action.PULL, "team/app")
    assert not policy.allows(via_token, Action.PUSH, "team/app")  # restricted to pull
    with pytest.raises(InvalidCredentialsError):
        login(identity, run, "bob", secret)  # someone else's name
    with pytest.raises(RegistryError):
        run(identity.tokens.create(via_token, "more"))  # tokens cannot make tokens
    run(identity.tokens.revoke(alice, record.id))
    assert run(identity.login.resolve("alice", f"pat:{record.id}", "")) is None
    with pytest.raises(InvalidCredentialsError):
        login(identity, run, "alice", secret)


def test_deleted_or_disabled_users_are_gone_at_once(
    identity: IdentityServices, run: Run[Any]
) -> None:
    setup(identity, run)
    assert login(identity, run, "bob", "bob-password")
    run(identity.users.update(ROOT, "bob", disabled=True))
    assert run(identity.login.resolve("bob", "", "")) is None
    with pytest.raises(InvalidCredentialsError):
        login(identity, run, "bob", "bob-password")
    run(identity.users.delete(ROOT, "alice"))
    assert run(identity.login.resolve("alice", "", "")) is None


def test_changes_elsewhere_are_noticed(identity: IdentityServices, run: Run[Any]) -> None:
    setup(identity, run)
    directory = identity.directory
    assert run(directory.resolve("bob")) is not None
    run(identity.users.accounts.update_user("bob", disabled=True))  # as another process would
    assert run(directory.resolve("bob")) is not None  # still cached...
    directory._checked = float("-inf")  # ...until the next generation check
    assert run(directory.resolve("bob")) is None


def test_last_admin_and_own_password(identity: IdentityServices, run: Run[Any]) -> None:
    run(identity.users.create(ROOT, "root", "root-password", admin=True))
    with pytest.raises(RegistryError) as refused:
        run(identity.users.delete(ROOT, "root"))
    assert refused.value.code is ErrorCode.CONFLICT
    setup(identity, run)
    alice = login(identity, run, "alice", "alice-password")
    with pytest.raises(RegistryError):
        run(identity.users.update(alice, "alice", password="new-password-1"))
    run(identity.users.update(alice, "alice", password="new-password-1",
                              current_password="alice-password"))  # fmt: skip
    with pytest.raises(RegistryError):
        run(identity.users.update(alice, "alice", admin=True))
    with pytest.raises(RegistryError):
        run(identity.users.get(alice, "bob"))


def test_create_on_push(identity: IdentityServices, run: Run[Any]) -> None:
    setup(identity, run)
    run(identity.users.create(ROOT, "root", "root-password", admin=True))
    alice = login(identity, run, "alice", "alice-password")
    same = run(identity.login.prepare_push(alice, ["newproj/app"]))
    assert not identity.login.policy.allows(same, Action.PUSH, "newproj/app")  # setting off
    root = login(identity, run, "root", "root-password")
    run(identity.login.prepare_push(root, ["adminproj/app"]))
    assert run(identity.projects.projects.get_project("adminproj")) is not None


def test_a_token_plan_creates_nothing(identity: IdentityServices, run: Run[Any]) -> None:
    from dataclasses import replace

    identity.login.options = replace(identity.login.options, create_on_push=True)
    policy = identity.login.policy
    setup(identity, run)
    alice = login(identity, run, "alice", "alice-password")
    wanted = [f"new{n}/app" for n in range(64)] + ["team/app"]
    planned = run(identity.login.plan_push(alice, wanted))
    assert all(policy.allows(planned, Action.PUSH, name) for name in wanted)
    assert run(identity.projects.projects.get_project("new0")) is None  # nothing created
    assert not policy.allows(alice, Action.PUSH, "new0/app")
    created = run(identity.login.prepare_push(alice, ["new0/app"]))  # the push itself
    assert policy.allows(created, Action.PUSH, "new0/app")
    assert run(identity.projects.projects.get_project("new0")) is not None
    assert run(identity.projects.projects.get_project("new1")) is None


def test_projects_are_invisible_to_strangers(identity: IdentityServices, run: Run[Any]) -> None:
    setup(identity, run)
    bob = login(identity, run, "bob", "bob-password")
    with pytest.raises(RegistryError) as hidden:
        run(identity.projects.get(bob, "team"))
    assert hidden.value.code is ErrorCode.NOT_FOUND
    assert run(identity.projects.list_projects(bob)).items == []
    run(identity.projects.update(ROOT, "team", public=True))
    bob = login(identity, run, "bob", "bob-password")  # the next request sees the change
    assert [p.name for p in run(identity.projects.list_projects(bob)).items] == ["team"]
    anonymous = run(identity.login.anonymous(""))
    assert identity.login.policy.allows(anonymous, Action.PULL, "team/app")
    assert not identity.login.policy.allows(anonymous, Action.PUSH, "team/app")


def test_unknown_users_cost_as_much_as_wrong_passwords(
    identity: IdentityServices, run: Run[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name that does not exist runs the same bcrypt work as a wrong password (one check at
    the configured cost), so timing cannot tell who exists. Counted, not timed."""
    import bcrypt

    from dockyard.auth import secrets as secret_module
    from dockyard.services.identity.login import LoginService

    slow = IdentityOptions(password_cost=9, login_attempts=1000, client_attempts=1000)
    run(identity.users.accounts.create_user(
        NewUser("known", password_hash=hash_password("right-password", 9), stamp="s")))  # fmt: skip
    service = LoginService(identity.directory, identity.audit, identity.login.policy, slow)
    costs: list[int] = []
    real_check = bcrypt.checkpw

    def counting_check(password: bytes, hashed: bytes) -> bool:
        costs.append(int(hashed.split(b"$")[2]))  # "$2b$09$...": the work factor
        return bool(real_check(password, hashed))

    monkeypatch.setattr(secret_module.bcrypt, "checkpw", counting_check)

    def bcrypt_costs(user: str) -> list[int]:
        costs.clear()
        with pytest.raises(InvalidCredentialsError):
            run(service.login(user, "wrong-password", "10.0.0.9"))
        return list(costs)

    assert bcrypt_costs("known") == [9]
    assert bcrypt_costs("nobody-at-all") == [9]
