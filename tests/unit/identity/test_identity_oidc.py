"""OIDC logins through the login service on both databases: users recorded from ID tokens,
groups synced at each login, mapped project roles and admin groups, removals at the next login,
shadowing by local users, throttling and the audit log. The provider is the loopback test one."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from dockyard.auth.grants import SYSTEM
from dockyard.auth.oidc import OidcBackend
from dockyard.auth.oidc_keys import OidcKeys
from dockyard.auth.policy import AccessPolicy, Action
from dockyard.auth.principal import Principal
from dockyard.auth.secrets import hash_password
from dockyard.auth.token_service import InvalidCredentialsError
from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.persistence.identity_records import NewUser
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
from dockyard.services.identity.login import LoginService
from dockyard.services.identity.records import AuditQuery
from dockyard.services.identity.wiring import IdentityServices, build_identity
from support.oidc import CLIENT_ID, TestProvider, oidc_provider
from unit.identity.conftest import Run

ROOT = Principal("cli:test", identity=SYSTEM, client="local")
RULES = GroupRules(
    (
        GroupRole("devs", "team", "developer"),
        GroupRole("readers", "team", "guest"),
        GroupRole("devs", "missing-project", "developer"),
        GroupRole("devs", "other", "no-such-role"),
    ),
    frozenset({"ops"}),
)


@pytest.fixture(scope="module")
def provider() -> Iterator[TestProvider]:
    with oidc_provider() as running:
        yield running


@pytest.fixture
def oidc(database: Database, policy: AccessPolicy, provider: TestProvider) -> IdentityServices:
    keys = OidcKeys(provider.issuer, algorithms=("RS256", "ES256"), ttl=3600.0,
                    min_interval=30.0, timeout=2.0)  # fmt: skip
    backend = OidcBackend(keys, client_id=CLIENT_ID, dummy_cost=4)
    accounts, projects = SqlAccountStore(database), SqlProjectStore(database)
    sync = ExternalGroupSync(accounts, projects, RULES, AuditLog(SqlAuditStore(database), policy))
    services = build_identity(
        accounts=accounts,
        projects=projects,
        robots=SqlRobotStore(database),
        audit=SqlAuditStore(database),
        outbox=SqlOutbox(database),
        policy=policy,
        options=IdentityOptions(password_cost=4, login_attempts=3, client_attempts=50),
        backends=[GroupSyncBackend(backend, sync)],
    )
    services.directory.check_interval = 0.0  # see other processes' changes at once
    return services


def login(services: IdentityServices, run: Run[Any], user: str, token: str) -> Principal:
    principal: Principal = run(services.login.login(user, token, "10.0.0.9"))
    return principal


def setup(services: IdentityServices, run: Run[Any]) -> None:
    run(services.users.create(ROOT, "root", "root-password", admin=True))
    run(services.projects.create(ROOT, "team"))
    run(services.projects.create(ROOT, "other"))


def test_groups_map_to_project_roles(
    oidc: IdentityServices, run: Run[Any], provider: TestProvider
) -> None:
    setup(oidc, run)
    policy = oidc.login.policy
    dev = login(oidc, run, "dana", provider.mint("dana", groups=["devs", "unmapped"]))
    reader = login(oidc, run, "rita", provider.mint("rita", groups=["readers"]))
    assert policy.allows(dev, Action.PUSH, "team/app")
    assert policy.allows(reader, Action.PULL, "team/app")
    assert not policy.allows(reader, Action.PUSH, "team/app")
    assert not policy.allows(dev, Action.PULL, "other/app")  # unknown role: skipped
    user = run(oidc.users.get(ROOT, "dana"))
    assert (user.source, user.email, user.admin) == ("oidc", "dana@example.test", False)
    group, members = run(oidc.users.get_group(ROOT, "devs"))
    assert (group.source, members) == ("oidc", ["dana"])
    assert run(oidc.users.get_group(ROOT, "unmapped"))[1] == ["dana"]
    mapped = [(m.kind, m.name, m.role) for m in run(oidc.members.list_members(ROOT, "team"))]
    assert sorted(mapped) == [("group", "devs", "developer"), ("group", "readers", "guest")]


def test_leaving_a_group_takes_effect_at_the_next_login(
    oidc: IdentityServices, run: Run[Any], provider: TestProvider
) -> None:
    setup(oidc, run)
    policy = oidc.login.policy
    assert policy.allows(login(oidc, run, "dana", provider.mint("dana", groups=["devs"])),
                         Action.PUSH, "team/app")  # fmt: skip
    later = login(oidc, run, "dana", provider.mint("dana", groups=["readers"], jti="2"))
    assert not policy.allows(later, Action.PUSH, "team/app")
    assert policy.allows(later, Action.PULL, "team/app")
    assert run(oidc.users.get_group(ROOT, "devs"))[1] == []
    gone = login(oidc, run, "dana", provider.mint("dana", groups=None, jti="3"))
    assert not policy.allows(gone, Action.PULL, "team/app")


def test_admin_groups(oidc: IdentityServices, run: Run[Any], provider: TestProvider) -> None:
    setup(oidc, run)
    admin = login(oidc, run, "olga", provider.mint("olga", groups=["ops"]))
    assert oidc.login.policy.is_admin(admin)
    assert run(oidc.users.get(ROOT, "olga")).admin
    demoted = login(oidc, run, "olga", provider.mint("olga", groups=[], jti="2"))
    assert not oidc.login.policy.is_admin(demoted)
    changes = run(oidc.audit.store.query(AuditQuery(event="user.update")))
    assert [e.actor for e in changes] == ["olga", "olga"]


def test_local_names_are_not_taken_over(
    oidc: IdentityServices, run: Run[Any], provider: TestProvider
) -> None:
    setup(oidc, run)
    run(oidc.users.create(ROOT, "alice", "alice-password"))
    run(oidc.users.create_group(ROOT, "readers"))  # a local group with a mapped name
    with pytest.raises(InvalidCredentialsError):
        login(oidc, run, "alice", provider.mint("alice"))  # a local user holds the name
    rita = login(oidc, run, "rita", provider.mint("rita", groups=["readers"]))
    assert not oidc.login.policy.allows(rita, Action.PULL, "team/app")
    assert run(oidc.users.get_group(ROOT, "readers"))[1] == []
    assert [m.name for m in run(oidc.members.list_members(ROOT, "team"))] == []


def test_failures_are_audited_and_throttled(
    oidc: IdentityServices, run: Run[Any], provider: TestProvider
) -> None:
    setup(oidc, run)
    assert login(oidc, run, "dana", provider.mint("dana")).name == "dana"
    for token in (provider.mint("dana", aud="x"), provider.mint("erin"), "not-a-token"):
        with pytest.raises(InvalidCredentialsError, match="invalid username or password"):
            login(oidc, run, "dana", token)
    with pytest.raises(RegistryError) as refused:
        login(oidc, run, "dana", provider.mint("dana", jti="late"))
    assert refused.value.code is ErrorCode.TOOMANYREQUESTS
    events = run(oidc.audit.store.query(AuditQuery(event="login")))
    assert sorted(e.outcome for e in events) == ["failure"] * 3 + ["success"]
    assert all(e.actor == "dana" and e.client == "10.0.0.9" for e in events)


def test_unknown_names_cost_as_much_as_local_wrong_passwords(
    oidc: IdentityServices, run: Run[Any], provider: TestProvider
) -> None:
    """OIDC as the only backend: a refused name costs a bcrypt check like a local user's wrong
    password, so timing does not tell which local users exist (ratios, not times)."""
    cost = 9
    local = NewUser("known", password_hash=hash_password("right-password", cost), stamp="s")
    run(oidc.users.accounts.create_user(local))
    keys = OidcKeys(provider.issuer, algorithms=("RS256",), ttl=3600.0, min_interval=30.0,
                    timeout=2.0)  # fmt: skip
    backend = OidcBackend(keys, client_id=CLIENT_ID, dummy_cost=cost)
    options = IdentityOptions(password_cost=cost, login_attempts=1000, client_attempts=1000)
    service = LoginService(oidc.directory, oidc.audit, oidc.login.policy, options, [backend])
    bad_token = provider.mint("nobody", aud="elsewhere")

    def median(user: str, password: str) -> float:
        times = []
        for _ in range(7):
            started = time.perf_counter()
            with pytest.raises(InvalidCredentialsError):
                run(service.login(user, password, "10.0.0.9"))
            times.append(time.perf_counter() - started)
        return sorted(times)[3]

    known = median("known", "wrong-password")
    # without the dummy check a refusal takes a small fraction of a bcrypt check
    assert median("nobody", "wrong-password") > 0.3 * known
    assert median("nobody", bad_token) > 0.3 * known
