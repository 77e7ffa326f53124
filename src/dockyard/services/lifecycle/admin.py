"""The lifecycle features as the management API offers them: bulk deletion and quotas of one
project, authorized by ``auth.policy`` and written to the audit log.

Who may do what:

- **bulk deletion** (preview and real run): system administrators, and members whose role
  holds ``project:configure`` for the whole project (the built-in ``admin`` role): deleting by
  pattern is project administration, like retention. Both also need ``repository:delete`` on
  every repository the selection reaches, checked before anything is deleted. A real run also
  needs ``storage.delete.enabled`` (as ``DELETE /v2/...``) and a writable registry; the preview
  only reads. The real run is one audit entry (``images.delete``) with its selection and counts;
  every manifest deleted is in the deletion log too.
- **quota usage**: anyone who can read the project (``project:read``).
- **setting or clearing a quota**: system administrators only (a limit is the operator's
  decision, not the project's); audited as ``quota.set`` / ``quota.unset``.
"""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.auth.permissions import Permission
from dockyard.auth.policy import AccessPolicy, Action
from dockyard.auth.principal import Principal
from dockyard.config import ConfigError
from dockyard.config.lifecycle import parse_age, parse_limit
from dockyard.core.patterns import PatternError, validate_pattern
from dockyard.services.identity.audit import AuditLog
from dockyard.services.identity.common import bad_request
from dockyard.services.identity.projects import ProjectService
from dockyard.services.lifecycle import Lifecycle
from dockyard.services.lifecycle.bulk_delete import BulkReport, Selection
from dockyard.services.lifecycle.quotas import ProjectQuota
from dockyard.services.registry import RegistryOptions
from dockyard.services.registry.guards import ensure_delete_enabled


@dataclass(frozen=True, slots=True)
class BulkCriteria:
    """A bulk deletion as a caller words it: patterns relative to the project, ages as text."""

    repositories: str = "**"  # inside the project: "ci/*", "**"
    tags: str | None = None
    older_than: str | None = None  # "30d", "12h"
    not_pulled_for: str | None = None
    untagged: bool = False
    grace: str = "1h"


def _age(name: str, text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return parse_age(text)
    except (ConfigError, ValueError) as exc:
        raise bad_request(f"{name}: {exc}", field=name) from None


def selection_for(project: str, criteria: BulkCriteria) -> Selection:
    """The selection, confined to ``project``; BAD_REQUEST for malformed patterns or ages."""
    try:
        for pattern in (criteria.repositories, criteria.tags):
            if pattern is not None:
                validate_pattern(pattern)
    except PatternError as exc:
        raise bad_request(f"invalid pattern: {exc}") from None
    if criteria.repositories.startswith("/") or "/" in (criteria.tags or ""):
        raise bad_request("repositories is relative to the project; tags contain no /")
    selection = Selection(
        repositories=f"{project}/{criteria.repositories}",
        tags=criteria.tags,
        older_than=_age("older_than", criteria.older_than),
        not_pulled_for=_age("not_pulled_for", criteria.not_pulled_for),
        untagged=criteria.untagged,
        grace=_age("grace", criteria.grace) or 0.0,
    )
    try:
        selection.check()
    except ValueError as exc:
        raise bad_request(str(exc).replace("--", "").replace("-", "_")) from None
    return selection


class LifecycleAdmin:
    def __init__(
        self,
        lifecycle: Lifecycle,
        policy: AccessPolicy,
        projects: ProjectService,
        audit: AuditLog,
        options: RegistryOptions,
    ) -> None:
        self.lifecycle = lifecycle
        self.policy = policy
        self.projects = projects
        self.audit = audit
        self.options = options

    # bulk deletion ----------------------------------------------------------------------------

    async def bulk_delete(
        self, actor: Principal, project: str, criteria: BulkCriteria, *, dry_run: bool
    ) -> BulkReport:
        await self.projects.get(actor, project)  # 404 for strangers
        self.policy.require_project(actor, Permission.PROJECT_CONFIGURE, project)
        selection = selection_for(project, criteria)
        if not dry_run:
            await ensure_delete_enabled(self.options)
        bulk = self.lifecycle.bulk
        async for repository in bulk.repositories(selection.repositories):
            self.policy.require(actor, Action.DELETE, repository)
        report = await bulk.run(selection, dry_run=dry_run, actor=f"{actor.name} (api)")
        if not dry_run:
            manifests, tags = report.counts(report.done)
            await self.audit.record(
                actor, "images.delete", f"project:{project}",
                detail={"selection": selection.describe(), "manifests": manifests,
                        "tags": tags, "skipped": len(report.skipped)},
            )  # fmt: skip
        return report

    # quotas -----------------------------------------------------------------------------------

    async def quota(self, actor: Principal, project: str) -> ProjectQuota:
        await self.projects.get(actor, project)
        (found,) = await self.lifecycle.quotas.report([project])
        return found

    async def quotas(self, actor: Principal) -> list[ProjectQuota]:
        """Every project's usage (system administrators)."""
        self.policy.require_admin(actor)
        return await self.lifecycle.quotas.report()

    async def set_quota(self, actor: Principal, project: str, limit: str) -> ProjectQuota:
        """Store ``limit`` (``50GiB``, ``1073741824``, ``unlimited``) for the project."""
        self.policy.require_admin(actor)
        await self.projects.get(actor, project)
        try:
            parsed = parse_limit(limit)
        except ConfigError as exc:
            raise bad_request(exc.message, field="limit") from None
        await self.lifecycle.quotas.set_limit(project, parsed, by=actor)
        await self.audit.record(actor, "quota.set", f"project:{project}", detail={"limit": parsed})
        return await self.quota(actor, project)

    async def clear_quota(self, actor: Principal, project: str) -> ProjectQuota:
        """Drop the stored limit: the configured one applies again."""
        self.policy.require_admin(actor)
        await self.projects.get(actor, project)
        if await self.lifecycle.quotas.unset_limit(project, by=actor):
            await self.audit.record(actor, "quota.unset", f"project:{project}")
        return await self.quota(actor, project)
