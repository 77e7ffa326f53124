"""Identity management in the ASGI app: Basic logins for ``/v2`` and the ``/api/v1`` API."""

from __future__ import annotations

from dockyard import __version__
from dockyard.api.access_log import AccessLog
from dockyard.api.identity_authn import IdentityAuthenticator
from dockyard.api.mgmt.app import ManagementApi
from dockyard.api.mgmt.router import PREFIX as MGMT_PREFIX
from dockyard.api.request_id import RequestIds
from dockyard.services.lifecycle_admin import LifecycleAdmin
from dockyard.services.registry import Registry
from dockyard.services.vulns.harbor import HarborScanner

__all__ = ["MGMT_PREFIX", "mount_identity"]


def harbor_scanner(registry: Registry) -> HarborScanner | None:
    """dockyard's scanner behind Harbor's scanner API; scans go to the job queue."""
    if registry.vulns is None:
        return None
    enqueue = registry.jobs.enqueue if registry.jobs is not None else None
    return HarborScanner(registry.vulns, enqueue, __version__)


def mount_identity(
    registry: Registry, realm: str, access_log: AccessLog | None, request_ids: RequestIds
) -> tuple[IdentityAuthenticator | None, ManagementApi | None]:
    """Both when ``dockyard.identity.enabled``; neither otherwise."""
    services = registry.identity
    if services is None or not services.enabled:
        return None, None
    authenticator = IdentityAuthenticator(services.login, registry.policy, realm)
    admin = LifecycleAdmin(
        registry.lifecycle, registry.policy, services.projects, services.audit, registry.options
    )
    api = ManagementApi(
        services, authenticator, admin, registry.system, registry.webhooks,
        access_log=access_log, ids=request_ids, supply_chain=registry.supply_chain,
        trust=registry.trust,
        mirror_admin=registry.mirror_admin,
        browse=registry.browse,
        replication=registry.replication,
        vulns=registry.vulns, scanner=harbor_scanner(registry),
    )  # fmt: skip
    return authenticator, api
