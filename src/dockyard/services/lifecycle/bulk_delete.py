"""Bulk deletion (``dockyard delete``): images selected by repository and tag patterns, age,
or being untagged, with a preview of exactly what would go.

Selection is per image (see ``retention_plan``), every given criterion must hold:

- ``tags``: images with a tag matching the pattern. When all of an image's tags match, the
  image goes; when only some do, only those tags go and the image stays with the others.
- ``older_than``: images pushed longer ago than this.
- ``not_pulled_for``: images not pulled for this long (never pulled: since their push).
- ``untagged``: images without a tag.

Images pushed within the grace period and immutable tags are never touched. Deleting an image
deletes what belongs to it (an index's untagged children, untagged artifacts referring to it),
as retention does; carrying out re-checks every step (``pruning``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace

from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.core.patterns import matches
from dockyard.persistence.lifecycle_records import InventoryStore, ManifestEntry
from dockyard.persistence.stores import MetadataStore
from dockyard.services.lifecycle.pruning import Pruner
from dockyard.services.lifecycle.readonly import WriteGate
from dockyard.services.lifecycle.retention_plan import (
    Decision,
    PlanContext,
    age_text,
    belonging,
    idle_of,
    images_of,
)

log = logging.getLogger("dockyard.delete")
PAGE = 500


@dataclass(frozen=True, slots=True)
class Selection:
    repositories: str
    tags: str | None = None
    older_than: float | None = None
    untagged: bool = False
    grace: float = 3600.0
    not_pulled_for: float | None = None

    def check(self) -> None:
        """ValueError when the selection is contradictory or selects by nothing."""
        if self.untagged and self.tags is not None:
            raise ValueError("--untagged and --tag select nothing together")
        for name, age in (
            ("--older-than", self.older_than),
            ("--not-pulled-for", self.not_pulled_for),
        ):
            if age is not None and age <= 0:
                raise ValueError(f"{name} must be above zero")
        if self.grace < 0:
            raise ValueError("--grace must be at least zero")
        if not (self.untagged or self.tags or self.older_than or self.not_pulled_for):
            raise ValueError(
                "select by --tag, --older-than, --not-pulled-for or --untagged (or several)"
            )

    def describe(self) -> str:
        """The selection as the command line that made it (the rule in the deletion log)."""
        parts = [f"dockyard delete --repo {self.repositories}"]
        if self.tags is not None:
            parts.append(f"--tag {self.tags}")
        if self.older_than is not None:
            parts.append(f"--older-than {age_text(self.older_than)}")
        if self.not_pulled_for is not None:
            parts.append(f"--not-pulled-for {age_text(self.not_pulled_for)}")
        if self.untagged:
            parts.append("--untagged")
        return " ".join(parts)


@dataclass
class BulkReport:
    dry_run: bool
    planned: list[Decision] = field(default_factory=list)
    kept: list[Decision] = field(default_factory=list)  # selected, but protected
    done: list[Decision] = field(default_factory=list)
    skipped: list[tuple[Decision, str]] = field(default_factory=list)

    def counts(self, decisions: list[Decision]) -> tuple[int, int]:
        manifests = sum(1 for d in decisions if d.delete)
        return manifests, sum(len(d.untag) for d in decisions if not d.delete)

    def summary(self) -> str:
        manifests, tags = self.counts(self.planned if self.dry_run else self.done)
        verb = "would delete" if self.dry_run else "deleted"
        text = f"{verb} {manifests} manifests"
        if tags:
            text += f" and {tags} tags of images that keep other tags"
        if self.kept:
            text += f"; {len(self.kept)} selected images kept (immutable)"
        return text + (f"; skipped {len(self.skipped)} that changed" if self.skipped else "")


class BulkDeleteService:
    def __init__(
        self, metadata: MetadataStore, inventory: InventoryStore, pruner: Pruner, gate: WriteGate
    ) -> None:
        self.metadata = metadata
        self.inventory = inventory
        self.pruner = pruner
        self.gate = gate

    async def run(self, selection: Selection, *, dry_run: bool, actor: str) -> BulkReport:
        selection.check()
        if not dry_run and await self.gate.read_only():
            raise RegistryError(ErrorCode.UNSUPPORTED, "the registry is in read-only mode")
        report = BulkReport(dry_run=dry_run)
        async for repository in self.repositories(selection.repositories):
            ctx = await self.pruner.context(repository, selection.grace)
            entries = await self.inventory.repository_manifests(repository)
            decisions = plan_bulk(repository, entries, selection, ctx)
            report.planned += [d for d in decisions if d.delete or d.untag]
            report.kept += [d for d in decisions if not (d.delete or d.untag)]
            if not dry_run:
                outcome = await self.pruner.apply(decisions, actor)
                report.done += outcome.deleted
                report.skipped += outcome.skipped
        log.info("delete: %s: %s", selection.describe(), report.summary())
        return report

    async def repositories(self, pattern: str) -> AsyncIterator[str]:
        """The repositories whose names match ``pattern``, in name order."""
        last = ""
        while names := await self.metadata.list_repositories(last, PAGE):
            for name in names:
                if matches(pattern, name):
                    yield name
            last = names[-1]


def plan_bulk(
    repository: str, entries: list[ManifestEntry], selection: Selection, ctx: PlanContext
) -> list[Decision]:
    """The decisions for the selected images (and what belongs to deleted ones)."""
    rule = selection.describe()
    by_digest = {e.digest: e for e in entries}
    decisions = []
    for entry in images_of(entries):
        decision = _select(
            repository,
            entry,
            selection,
            ctx,
            rule=rule,
            unpulled=_idle(entry, by_digest, ctx, selection.not_pulled_for),
        )
        if decision is not None:
            decisions.append(decision)
    doomed = [d.digest for d in decisions if d.delete]
    return decisions + belonging(repository, entries, doomed, rule)


def _idle(
    entry: ManifestEntry, by_digest: dict[str, ManifestEntry], ctx: PlanContext, limit: float | None
) -> str | None:
    """The pull criterion: "" when not asked for, its reason when the image has not been
    pulled for ``limit``, None when it has been (the image is not selected)."""
    if limit is None:
        return ""
    idle = idle_of(entry, by_digest, ctx.now)
    return f"; {idle.text()}" if idle.seconds >= limit else None


def _select(
    repository: str,
    entry: ManifestEntry,
    selection: Selection,
    ctx: PlanContext,
    *,
    rule: str,
    unpulled: str | None,
) -> Decision | None:
    age = ctx.now - entry.pushed_at
    if age < ctx.grace or (selection.untagged and entry.tags) or unpulled is None:
        return None
    if selection.older_than is not None and age < selection.older_than:
        return None
    tags = tuple(sorted(entry.tags))
    chosen = (
        tags if selection.tags is None else tuple(t for t in tags if matches(selection.tags, t))
    )
    if selection.tags is not None and not chosen:
        return None
    base = Decision(repository, entry.digest, tags, False, "", rule, entry.pushed_at)
    protected = [(t, ctx.immutable(t)) for t in (tags if chosen == tags else chosen)]
    frozen = [(t, why) for t, why in protected if why is not None]
    if frozen:
        return replace(base, reason=f'tag "{frozen[0][0]}" is immutable ({frozen[0][1]})')
    why = f"pushed {age_text(age)} ago" + (", untagged" if not tags else "") + unpulled
    if chosen == tags:
        return replace(base, delete=True, reason=why)
    kept = ", ".join(t for t in tags if t not in chosen)
    return replace(base, untag=chosen, reason=f"{why}; the image keeps {kept}")
