"""Endpoints: bulk deletion (preview and real run) and quota usage of a project.

Who may call which is decided in ``services/lifecycle/admin.py`` (``auth.policy``).
"""

from __future__ import annotations

from dockyard.api.mgmt.lifecycle_schemas import (
    BulkDeleteRequest,
    BulkDeletion,
    QuotaChange,
    QuotaUsage,
)
from dockyard.api.mgmt.router import Call, Endpoint, Reply
from dockyard.api.mgmt.schemas import Items
from dockyard.services.lifecycle.admin import LifecycleAdmin, selection_for


class Handlers:
    def __init__(self, admin: LifecycleAdmin) -> None:
        self.admin = admin

    async def _bulk(self, call: Call, *, dry_run: bool) -> Reply:
        project = call.params["project"]
        criteria = call.body(BulkDeleteRequest).criteria()
        report = await self.admin.bulk_delete(call.principal, project, criteria, dry_run=dry_run)
        selection = selection_for(project, criteria).describe()
        return Reply(200, BulkDeletion.of(report, selection))

    async def preview(self, call: Call) -> Reply:
        return await self._bulk(call, dry_run=True)

    async def delete(self, call: Call) -> Reply:
        return await self._bulk(call, dry_run=False)

    async def quota(self, call: Call) -> Reply:
        found = await self.admin.quota(call.principal, call.params["project"])
        return Reply(200, QuotaUsage.of(found))

    async def quotas(self, call: Call) -> Reply:
        found = await self.admin.quotas(call.principal)
        return Reply(200, Items([QuotaUsage.of(q) for q in found]))

    async def set_quota(self, call: Call) -> Reply:
        limit = call.body(QuotaChange).limit
        text = "unlimited" if limit is None else str(limit)
        changed = await self.admin.set_quota(call.principal, call.params["project"], text)
        return Reply(200, QuotaUsage.of(changed))

    async def clear_quota(self, call: Call) -> Reply:
        cleared = await self.admin.clear_quota(call.principal, call.params["project"])
        return Reply(200, QuotaUsage.of(cleared))

    def endpoints(self) -> list[Endpoint]:
        tag, deletions, quota = (
            "lifecycle",
            "/projects/{project}/deletions",
            "/projects/{project}/quota",
        )
        who = " (project:configure in the project, repository:delete on what it reaches)"
        return [
            Endpoint(
                "POST", deletions + "/preview", self.preview,
                "What a bulk deletion would delete, and why (nothing is changed)" + who,
                tag, request=BulkDeleteRequest, response=BulkDeletion,
            ),
            Endpoint(
                "POST", deletions, self.delete,
                "Delete images by tag pattern, age, last pull or being untagged" + who,
                tag, request=BulkDeleteRequest, response=BulkDeletion,
            ),
            Endpoint(
                "GET", quota, self.quota, "A project's storage use and quota (project:read)",
                tag, response=QuotaUsage,
            ),
            Endpoint(
                "PUT", quota, self.set_quota,
                "Set a project's quota; overrides the configuration (administrators)",
                tag, request=QuotaChange, response=QuotaUsage,
            ),
            Endpoint(
                "DELETE", quota, self.clear_quota,
                "Drop a project's stored quota: the configured one applies (administrators)",
                tag, response=QuotaUsage,
            ),
            Endpoint(
                "GET", "/quotas", self.quotas, "Storage use of every project (administrators)",
                tag, response=Items[QuotaUsage],
            ),
        ]  # fmt: skip


def endpoints(admin: LifecycleAdmin) -> list[Endpoint]:
    return Handlers(admin).endpoints()
