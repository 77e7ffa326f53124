"""LDAP users through the login service, on both database backends, against a real slapd:
groups mapped to project roles and administration, kept in step at each login; one error for
every wrong credential, all audited; a directory that cannot answer is a 503, audited too."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from dockyard.auth.grants import SYSTEM
from dockyard.auth.ldap import LdapBackend
from dockyard.auth.policy import AccessPolicy, Action
from dockyard.auth.principal import Principal
from dockyard.auth.token_service import InvalidCredentialsError
from dockyard.config.ldap import LdapSettings
from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.persistence.identity_records import NewUser, UserRecord
from dockyard.persistence.sql.accounts import SqlAccountStore
from dockyard.persistence.sql.audit import SqlAuditStore
from dockyard.persistence.sql.outbox import SqlOutbox
from dockyard.persistence.sql.projects import SqlProjectStore
from dockyard.persistence.sql.robots import SqlRobotStore
from dockyard.persistence.sql.session import Database
from dockyard.services.identity.audit import AuditLog
from dockyard.services.identity.common import IdentityOptions
from dockyard.services.identity.external_groups import (
    ExternalGroupSync,
    GroupRole,
    GroupRules,
    GroupSyncBackend,
)
from dockyard.services.identity.records import AuditQuery
from dockyard.services.identity.wiring import IdentityServices, build_identity
from support.ldap import (
    GROUPS,
    PASSWORDS,
    PEOPLE,
    SERVICE_DN,
    SERVICE_PASSWORD,
    Slapd,
    running_slapd,
)
from support.server import free_port
from unit.identity.conftest import Run

ROOT = Principal("cli:test", identity=SYSTEM, client="local")
RULES = GroupRules(
    (GroupRole("developers", "team", "developer"), GroupRole("readers", "team", "guest"),
     GroupRole("readers", "missing-project", "guest")),
    frozenset({"registry-admins"}),
)  # fmt: skip


@pytest.fixture(scope="module")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    with running_slapd(tmp_path_factory.mktemp("slapd")) as server:
        yield server


class CountingAccounts(SqlAccountStore):
    """The real store, counting the writes that record external users."""

    upserts = 0

    async def upsert_external_user(self, new: NewUser, groups: Sequence[str]) -> UserRecord | None:
        self.upserts += 1
        return await super().upsert_external_user(new, groups)


def ldap_identity(
    database: Database, policy: AccessPolicy, url: str, attempts: int = 100
) -> IdentityServices:
    settings = LdapSettings(url=url, binddn=SERVICE_DN, bindpassword=SERVICE_PASSWORD,
                            usersearchbase=PEOPLE, groupsearchbase=GROUPS)  # fmt: skip
    accounts, projects = CountingAccounts(database), SqlProjectStore(database)
    sync = ExternalGroupSync(accounts, projects, RULES, AuditLog(SqlAuditStore(database), policy))
    return build_identity(
        accounts=accounts, projects=projects, robots=SqlRobotStore(database),
        audit=SqlAuditStore(database), outbox=SqlOutbox(database), policy=policy,
        options=IdentityOptions(password_cost=4, login_attempts=attempts, client_attempts=100),
        backends=[GroupSyncBackend(LdapBackend(settings), sync)],
    )  # fmt: skip


@pytest.fixture
def ldap(database: Database, policy: AccessPolicy, slapd: Slapd, run: Run[Any]) -> IdentityServices:
    identity = ldap_identity(database, policy, slapd.url)
    run(identity.projects.create(ROOT, "team"))
    run(identity.users.create(ROOT, "root", "root-password", admin=True))
    return identity


def login(identity: IdentityServices, run: Run[Any], user: str, password: str) -> Principal:
    result: Principal = run(identity.login.login(user, password, "10.0.0.7"))
    return result


def next_login(identity: IdentityServices, run: Run[Any], user: str) -> Principal:
    """A login after the minute in which a verified password is remembered."""
    identity.directory.logins.clear()
    return login(identity, run, user, PASSWORDS[user])


def test_groups_become_project_roles(ldap: IdentityServices, run: Run[Any]) -> None:
    policy = ldap.login.policy
    alice, bob = (login(ldap, run, u, PASSWORDS[u]) for u in ("alice", "bob"))
    carol, erin = (login(ldap, run, u, PASSWORDS[u]) for u in ("carol", "erin"))
    assert policy.allows(alice, Action.PUSH, "team/app")
    assert policy.allows(bob, Action.PULL, "team/app")
    assert not policy.allows(bob, Action.PUSH, "team/app")
    assert not policy.allows(carol, Action.PULL, "team/app")
    assert erin.identity is not None and erin.identity.admin
    assert alice.identity is not None and not alice.identity.admin
    accounts = ldap.users.accounts
    user = run(accounts.get_user("alice"))
    assert user is not None and user.source == "ldap" and user.email == "alice@dockyard.test"
    assert run(accounts.groups_of(user.id)) == ["developers", "readers"]
    group = run(accounts.get_group("readers"))
    assert group is not None and group.source == "ldap"
    members = run(ldap.projects.projects.list_members("team"))
    assert {(m.kind, m.name, m.role) for m in members} == {
        ("group", "developers", "developer"), ("group", "readers", "guest")}  # fmt: skip
    assert run(ldap.projects.projects.get_project("missing-project")) is None  # never created


def test_leaving_a_group_removes_access_at_the_next_login(
    ldap: IdentityServices, slapd: Slapd, run: Run[Any]
) -> None:
    policy = ldap.login.policy
    assert policy.allows(login(ldap, run, "bob", PASSWORDS["bob"]), Action.PULL, "team/app")
    assert login(ldap, run, "erin", PASSWORDS["erin"]).identity.admin  # type: ignore[union-attr]
    slapd.set_member("readers", "bob", member=False)
    slapd.set_member("registry-admins", "erin", member=False)
    try:
        assert not policy.allows(next_login(ldap, run, "bob"), Action.PULL, "team/app")
        assert run(ldap.login.resolve("bob", "", "")) is not None  # still a user, no role
        erin = next_login(ldap, run, "erin")
        assert erin.identity is not None and not erin.identity.admin
        slapd.set_member("readers", "bob", member=True)
        assert policy.allows(next_login(ldap, run, "bob"), Action.PULL, "team/app")
    finally:
        slapd.set_member("readers", "bob", member=True)
        slapd.set_member("registry-admins", "erin", member=True)


def test_a_mapped_role_follows_the_configuration(ldap: IdentityServices, run: Run[Any]) -> None:
    projects = ldap.projects.projects
    run(ldap.users.create_group(ROOT, "admins-local"))
    member = run(projects.add_member("team", "group", "admins-local", "admin", ""))
    login(ldap, run, "bob", PASSWORDS["bob"])
    (readers,) = [m for m in run(projects.list_members("team")) if m.name == "readers"]
    run(projects.update_member("team", readers.id, "maintainer"))  # changed by hand
    next_login(ldap, run, "bob")
    roles = {m.name: m.role for m in run(projects.list_members("team"))}
    assert roles["readers"] == "guest"  # back to what the mapping says
    assert roles["admins-local"] == "admin" and not isinstance(member, str)  # untouched


def test_wrong_password_and_unknown_user_get_one_answer_and_are_audited(
    ldap: IdentityServices, run: Run[Any]
) -> None:
    messages = []
    for user, password in (("alice", "wrong-password"), ("nobody", "whatever"),
                           ("*)(uid=*", PASSWORDS["alice"]), ("*", PASSWORDS["alice"]),
                           ("alice", "")):  # fmt: skip
        with pytest.raises(InvalidCredentialsError) as refused:
            login(ldap, run, user, password)
        messages.append(str(refused.value))
    assert set(messages) == {"invalid username or password"}
    assert run(ldap.users.accounts.get_user("nobody")) is None
    assert run(ldap.users.accounts.get_user("*")) is None
    login(ldap, run, "carol", PASSWORDS["carol"])
    failures = run(ldap.audit.store.query(AuditQuery(event="login", outcome="failure")))
    assert sorted(e.actor for e in failures) == sorted(["alice", "nobody", "*)(uid=*", "*",
                                                        "alice"])  # fmt: skip
    successes = run(ldap.audit.store.query(AuditQuery(event="login", outcome="success")))
    assert [e.actor for e in successes] == ["carol"]
    assert all(e.client == "10.0.0.7" for e in failures + successes)


def test_failed_ldap_logins_are_throttled(
    database: Database, policy: AccessPolicy, slapd: Slapd, run: Run[Any]
) -> None:
    identity = ldap_identity(database, policy, slapd.url, attempts=2)
    for user in ("bob", "bob"):
        with pytest.raises(InvalidCredentialsError):
            login(identity, run, user, "wrong-password")
    with pytest.raises(RegistryError) as refused:  # even with the right password now
        login(identity, run, "bob", PASSWORDS["bob"])
    assert refused.value.code is ErrorCode.TOOMANYREQUESTS
    assert login(identity, run, "alice", PASSWORDS["alice"]).name == "alice"


def test_failed_logins_in_every_case_count_for_one_name(
    database: Database, policy: AccessPolicy, slapd: Slapd, run: Run[Any]
) -> None:
    identity = ldap_identity(database, policy, slapd.url, attempts=2)
    for user in ("BOB", "Bob"):  # the directory takes both for bob
        with pytest.raises(InvalidCredentialsError):
            login(identity, run, user, "wrong-password")
    for user in ("bob", "bOB"):
        with pytest.raises(RegistryError) as refused:
            login(identity, run, user, PASSWORDS["bob"])
        assert refused.value.code is ErrorCode.TOOMANYREQUESTS


def test_a_local_user_of_the_same_name_wins(ldap: IdentityServices, run: Run[Any]) -> None:
    run(ldap.users.create(ROOT, "alice", "local-alice-password"))
    with pytest.raises(InvalidCredentialsError):
        login(ldap, run, "alice", PASSWORDS["alice"])
    alice = login(ldap, run, "alice", "local-alice-password")
    assert not ldap.login.policy.allows(alice, Action.PULL, "team/app")  # no LDAP groups


def test_a_directory_that_cannot_answer_is_a_503_and_audited(
    database: Database, policy: AccessPolicy, run: Run[Any]
) -> None:
    down = ldap_identity(database, policy, f"ldap://127.0.0.1:{free_port()}")
    for _ in range(3):
        with pytest.raises(RegistryError) as refused:
            login(down, run, "alice", PASSWORDS["alice"])
        assert refused.value.code is ErrorCode.UNAVAILABLE
    events = run(down.audit.store.query(AuditQuery(event="login")))
    assert [(e.actor, e.outcome) for e in events] == [("alice", "failure")] * 3
    assert all('"unavailable"' in e.detail_json for e in events)
    with pytest.raises(InvalidCredentialsError):  # an empty password never reaches it
        login(down, run, "alice", "")


def test_the_directory_decides_the_case_of_a_name(ldap: IdentityServices, run: Run[Any]) -> None:
    shouting = login(ldap, run, "ALICE", PASSWORDS["alice"])
    assert shouting.name == "alice" and shouting.identity is not None
    assert ldap.login.policy.allows(shouting, Action.PUSH, "team/app")
    quiet = login(ldap, run, "alice", PASSWORDS["alice"])
    mixed = login(ldap, run, "Alice", PASSWORDS["alice"])
    assert {quiet.name, mixed.name} == {"alice"}
    assert quiet.identity == mixed.identity == shouting.identity  # one account
    users = run(ldap.users.accounts.list_users("", 100))
    assert sorted(u.name for u in users) == ["alice", "root"]
    assert run(ldap.login.resolve("alice", "", "")) is not None  # tokens name "alice"
    with pytest.raises(InvalidCredentialsError):
        login(ldap, run, "ALICE", "wrong-password")
    successes = run(ldap.audit.store.query(AuditQuery(event="login", outcome="success")))
    assert {e.actor for e in successes} == {"alice"}


def test_a_name_held_by_a_local_user_in_another_case_is_not_taken_over(
    ldap: IdentityServices, run: Run[Any]
) -> None:
    run(ldap.users.create(ROOT, "alice", "local-alice-password"))
    with pytest.raises(InvalidCredentialsError):
        login(ldap, run, "ALICE", PASSWORDS["alice"])  # the directory's alice is shadowed
    assert login(ldap, run, "alice", "local-alice-password").name == "alice"


def test_an_external_login_records_the_user_once(ldap: IdentityServices, run: Run[Any]) -> None:
    accounts = ldap.users.accounts
    assert isinstance(accounts, CountingAccounts)
    login(ldap, run, "bob", PASSWORDS["bob"])  # first login: recorded, with groups and roles
    next_login(ldap, run, "bob")  # a later one: refreshed
    assert accounts.upserts == 2
    user = run(accounts.get_user("bob"))
    assert user is not None and run(accounts.groups_of(user.id)) == ["readers"]


def test_remembered_logins_outlive_other_users_first_logins(
    ldap: IdentityServices, slapd: Slapd, run: Run[Any]
) -> None:
    login(ldap, run, "bob", PASSWORDS["bob"])
    login(ldap, run, "carol", PASSWORDS["carol"])  # her first login records her...
    ldap.directory._checked = float("-inf")  # ...which this process notices a second later
    login(ldap, run, "root", "root-password")  # (any login that resolves someone)
    slapd.stop()
    try:
        for user in ("bob", "carol"):  # remembered: no need to ask the directory
            assert login(ldap, run, user, PASSWORDS[user]).name == user
        for user, password in (("erin", PASSWORDS["erin"]), ("bob", "wrong-password")):
            with pytest.raises(RegistryError) as refused:  # not remembered: asked, and down
                login(ldap, run, user, password)
            assert refused.value.code is ErrorCode.UNAVAILABLE
    finally:
        slapd.start()


def test_a_remembered_login_ends_when_the_account_changes(
    ldap: IdentityServices, run: Run[Any]
) -> None:
    run(ldap.users.create(ROOT, "dora", "dora-password-1"))
    dora = login(ldap, run, "dora", "dora-password-1")
    run(ldap.users.update(dora, "dora", password="dora-password-2",
                          current_password="dora-password-1"))  # fmt: skip
    with pytest.raises(InvalidCredentialsError):
        login(ldap, run, "dora", "dora-password-1")
    assert login(ldap, run, "dora", "dora-password-2").name == "dora"
    run(ldap.users.update(ROOT, "dora", disabled=True))
    with pytest.raises(InvalidCredentialsError):
        login(ldap, run, "dora", "dora-password-2")
