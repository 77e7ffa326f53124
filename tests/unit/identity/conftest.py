"""Identity store and service tests run against SQLite and against a real PostgreSQL.

Same shape as ``unit/persistence/conftest.py``: a fresh SQLite file per test, or this suite's
PostgreSQL database with the identity tables emptied; one event loop per test (``run``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from dockyard.auth.policy import AccessPolicy
from dockyard.persistence.sql.accounts import SqlAccountStore
from dockyard.persistence.sql.audit import SqlAuditStore
from dockyard.persistence.sql.identity_schema import IDENTITY_TABLES
from dockyard.persistence.sql.outbox import SqlOutbox
from dockyard.persistence.sql.projects import SqlProjectStore
from dockyard.persistence.sql.robots import SqlRobotStore
from dockyard.persistence.sql.session import Database
from dockyard.persistence.sqlite import SqliteDatabase
from dockyard.services.identity.common import IdentityOptions
from dockyard.services.identity.wiring import IdentityServices, build_identity
from support import postgres

T = TypeVar("T")
Run = Callable[[Awaitable[T]], T]


def postgres_url() -> str:
    return postgres.suite_database_url("identity")


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path, run: Run[Any]) -> Iterator[Database]:
    if request.param == "sqlite":
        db: Database = SqliteDatabase(str(tmp_path / "metadata.db"))
    else:
        from dockyard.persistence.postgres.database import PostgresDatabase

        db = PostgresDatabase(postgres_url())
        run(db.open())
        run(
            db.execute(
                f"TRUNCATE {', '.join(IDENTITY_TABLES)}, repositories, outbox_events, "
                "event_cursors RESTART IDENTITY CASCADE"
            )
        )
        run(db.execute("DELETE FROM roles WHERE builtin = 0"))
    yield db
    run(db.aclose())


@pytest.fixture
def accounts(database: Database) -> SqlAccountStore:
    return SqlAccountStore(database)


@pytest.fixture
def projects(database: Database) -> SqlProjectStore:
    return SqlProjectStore(database)


@pytest.fixture
def robots(database: Database) -> SqlRobotStore:
    return SqlRobotStore(database)


@pytest.fixture
def audit_store(database: Database) -> SqlAuditStore:
    return SqlAuditStore(database)


@pytest.fixture
def policy() -> AccessPolicy:
    return AccessPolicy(authentication_required=True, identity=True)


@pytest.fixture
def identity(database: Database, policy: AccessPolicy) -> IdentityServices:
    return build_identity(
        accounts=SqlAccountStore(database),
        projects=SqlProjectStore(database),
        robots=SqlRobotStore(database),
        audit=SqlAuditStore(database),
        outbox=SqlOutbox(database),
        policy=policy,
        options=IdentityOptions(password_cost=4, login_attempts=3, client_attempts=5),
    )
