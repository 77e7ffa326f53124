"""Request and response bodies of the lifecycle endpoints (bulk deletion, quotas)."""

from __future__ import annotations

import msgspec

from dockyard.api.mgmt.schemas import Body, iso
from dockyard.services.lifecycle.admin import BulkCriteria
from dockyard.services.lifecycle.bulk_delete import BulkReport
from dockyard.services.lifecycle.quotas import ProjectQuota
from dockyard.services.lifecycle.retention_plan import Decision


class BulkDeleteRequest(Body):
    """Which images to delete; every criterion given must hold (at least one of ``tags``,
    ``older_than``, ``not_pulled_for``, ``untagged``)."""

    repositories: str = "**"  # a pattern inside the project: "ci/*", "**" (all)
    tags: str | None = None  # images with tags matching, e.g. "pr-*"
    older_than: str | None = None  # pushed longer ago than this: "30d", "12h"
    not_pulled_for: str | None = None  # not pulled for this long (never: since the push)
    untagged: bool = False  # images without a tag
    grace: str = "1h"  # images pushed more recently than this are never touched

    def criteria(self) -> BulkCriteria:
        return BulkCriteria(
            repositories=self.repositories,
            tags=self.tags,
            older_than=self.older_than,
            not_pulled_for=self.not_pulled_for,
            untagged=self.untagged,
            grace=self.grace,
        )


class DeletionStep(msgspec.Struct):
    """One manifest: ``delete`` (it goes), ``untag`` (only ``removed_tags`` go; the image keeps
    its other tags), ``keep`` (selected but protected: an immutable tag), or ``skipped`` (it
    changed between planning and deleting: nothing was done)."""

    action: str
    repository: str
    digest: str
    tags: list[str]
    removed_tags: list[str]
    reason: str
    part_of: str | None  # the deleted image this manifest belonged to (index child, signature)
    pushed_at: str | None

    @classmethod
    def of(cls, decision: Decision, action: str, reason: str = "") -> DeletionStep:
        removed = decision.untag or (decision.tags if decision.delete else ())
        return cls(
            action, decision.repository, decision.digest, list(decision.tags), list(removed),
            reason or decision.reason, decision.part_of, iso(decision.pushed_at),
        )  # fmt: skip


class BulkDeletion(msgspec.Struct):
    """What a bulk deletion would do (``dry_run``) or did: the same shape for both."""

    dry_run: bool
    selection: str
    summary: str
    manifests: int  # manifests deleted (or that would be)
    tags: int  # tags removed from images that keep other tags
    items: list[DeletionStep]

    @classmethod
    def of(cls, report: BulkReport, selection: str) -> BulkDeletion:
        listed = report.planned if report.dry_run else report.done
        steps = [DeletionStep.of(d, "delete" if d.delete else "untag") for d in listed]
        steps += [DeletionStep.of(d, "keep") for d in report.kept]
        steps += [DeletionStep.of(d, "skipped", why) for d, why in report.skipped]
        manifests, tags = report.counts(listed)
        return cls(report.dry_run, selection, report.summary(), manifests, tags, steps)


class QuotaUsage(msgspec.Struct):
    """A project's storage: ``used_bytes`` counts each blob once, plus manifests;
    ``unique_bytes`` only this project uses (what deleting it would free), ``shared_bytes``
    other projects use too; ``unreferenced_bytes`` no manifest uses: garbage collection frees
    them once past the grace period. ``limit_bytes`` null: unlimited."""

    project: str
    used_bytes: int
    limit_bytes: int | None
    percent: float | None
    unique_bytes: int
    shared_bytes: int
    unreferenced_bytes: int
    manifest_bytes: int
    blob_bytes: int
    blobs: int
    source: str  # where the limit comes from: "database", "configuration" or "default"

    @classmethod
    def of(cls, quota: ProjectQuota) -> QuotaUsage:
        usage, limit = quota.detail, quota.limit
        used = usage.stored_bytes
        percent = None if not limit else round(100 * used / limit, 1)
        return cls(
            usage.project, used, limit, percent, usage.unique_bytes, usage.shared_bytes,
            usage.unreferenced_bytes, usage.manifest_bytes, usage.blob_bytes, usage.blobs,
            quota.source,
        )  # fmt: skip


class QuotaChange(Body):
    """A limit: bytes, a size (``"50GiB"``, ``"500MB"``), or ``"unlimited"``/null."""

    limit: str | int | None
