"""The ``/api/v1`` surface when identity management is on (its services and authenticator)."""

from __future__ import annotations

from dockyard import __version__
from dockyard.api.identity_authn import ManagementLogin
from dockyard.api.mgmt.app import ManagementApi
from dockyard.api.mgmt.router import PREFIX as MGMT_PREFIX
from dockyard.services.lifecycle.admin import LifecycleAdmin
from dockyard.services.registry import Registry
from dockyard.services.vulns.harbor import HarborScanner

__all__ = ["MGMT_PREFIX", "management_api"]


def harbor_scanner(registry: Registry) -> HarborScanner | None:
    """dockyard's scanner behind Harbor's scanner API; scans go to the job queue."""
    if registry.vulns is None:
        return None
    enqueue = registry.jobs.enqueue if registry.jobs is not None else None
    return HarborScanner(registry.vulns, enqueue, __version__)


def management_api(registry: Registry, login: ManagementLogin | None) -> ManagementApi | None:
    """The management API; None without identity management (``login`` is None then)."""
    services = registry.identity
    if services is None or not services.enabled or login is None:
        return None
    admin = LifecycleAdmin(
        registry.lifecycle, registry.policy, services.projects, services.audit, registry.options
    )
    return ManagementApi(
        services, login, admin, registry.system, registry.webhooks,
        supply_chain=registry.supply_chain,
        trust=registry.trust,
        mirror_admin=registry.mirror_admin,
        browse=registry.browse,
        replication=registry.replication,
        vulns=registry.vulns, scanner=harbor_scanner(registry),
    )  # fmt: skip
