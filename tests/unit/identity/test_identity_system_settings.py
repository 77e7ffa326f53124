"""The system settings service on real SQLite and PostgreSQL databases: a read-only mode set in
the configuration cannot be switched off at run time; one switched at run time can."""

from __future__ import annotations

from typing import Any

import pytest

from dockyard.auth.grants import SYSTEM
from dockyard.auth.policy import AccessPolicy
from dockyard.auth.principal import Principal
from dockyard.core.errors import RegistryError
from dockyard.persistence.sql.lifecycle import SqlLifecycleStore
from dockyard.persistence.sql.session import Database
from dockyard.services.identity.wiring import IdentityServices
from dockyard.services.lifecycle.readonly import WriteGate
from dockyard.services.system.settings import (
    GcView,
    IdentityView,
    QuotaView,
    ReadOnlyChange,
    ReadOnlyView,
    SystemSettings,
    SystemSettingsService,
    TokenView,
)
from unit.identity.conftest import Run

OPERATOR = Principal("operator", identity=SYSTEM)
EFFECTIVE = SystemSettings(
    identity=IdentityView(True, False, True, 10, 50, "5m", ["htpasswd"]),
    token=TokenView(False, "dockyard", "dockyard", "", "5m", "ES256", False, False),
    authentication="",
    delete_enabled=True,
    readonly=ReadOnlyView(False, False, False),
    gc=GcView("", "1h", False, False),
    quotas=QuotaView("", 90, 0),
)


def service(database: Database, identity: IdentityServices, *, configured: bool) -> Any:
    gate = WriteGate(SqlLifecycleStore(database), configured=configured, ttl_seconds=0)
    policy = AccessPolicy(authentication_required=True, identity=True)
    return SystemSettingsService(EFFECTIVE, gate, policy, identity.audit)


def test_configured_read_only_stays_on(
    database: Database, identity: IdentityServices, run: Run[Any]
) -> None:
    settings = service(database, identity, configured=True)
    with pytest.raises(RegistryError) as refused:
        run(settings.change(OPERATOR, ReadOnlyChange(False)))
    assert refused.value.code.name == "CONFLICT"
    view = run(settings.view(OPERATOR))
    assert view.readonly.enabled and view.readonly.configured


def test_switching_at_run_time(
    database: Database, identity: IdentityServices, run: Run[Any]
) -> None:
    settings = service(database, identity, configured=False)
    view = run(settings.change(OPERATOR, ReadOnlyChange(True, "moving disks")))
    assert (view.readonly.enabled, view.readonly.switched, view.readonly.reason) == (
        True, True, "moving disks")  # fmt: skip
    other_node = service(database, identity, configured=False)
    assert run(other_node.view(OPERATOR)).readonly.switched  # read from the database
    assert not run(settings.change(OPERATOR, ReadOnlyChange(False))).readonly.enabled
    with pytest.raises(RegistryError):
        run(settings.view(Principal("nobody")))
