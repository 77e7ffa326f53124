"""Retention: apply the configured policies to every repository, or show what they would do.

Each repository gets the first policy whose pattern matches it. A run plans each repository
(``retention_plan``), then deletes what the plan says, one manifest at a time, each delete
re-checking inside its transaction that the manifest still carries the planned tags and that
no index lists it; what changed since the plan is skipped and reported. Every deletion goes to
the log and to the deletion log (``dockyard retention history``) with its policy and reason.
Blobs are left to garbage collection. A dry run plans exactly as a real run does.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.core.events import DetailValue, EventKind, EventOrigin, EventTarget, new_event
from dockyard.persistence.lifecycle_records import (
    DeletionLog,
    DeletionRecord,
    EventRecorder,
    InventoryStore,
)
from dockyard.persistence.stores import MetadataStore
from dockyard.services.lifecycle.immutability import ImmutabilityService
from dockyard.services.lifecycle.pruning import Pruner
from dockyard.services.lifecycle.readonly import WriteGate
from dockyard.services.lifecycle.retention_plan import Decision, RetentionPolicy, plan_repository
from dockyard.services.telemetry import NO_TELEMETRY, Telemetry

log = logging.getLogger("dockyard.retention")
PAGE = 500


@dataclass
class RetentionReport:
    dry_run: bool
    decisions: list[Decision] = field(default_factory=list)
    deleted: list[Decision] = field(default_factory=list)
    skipped: list[tuple[Decision, str]] = field(default_factory=list)
    repositories: int = 0

    @property
    def planned(self) -> list[Decision]:
        return [d for d in self.decisions if d.delete]

    def summary(self) -> str:
        where = _count(self.repositories, "repository", "repositories")
        if self.dry_run:
            kept = _count(len(self.decisions) - len(self.planned), "image", "images")
            return f"would delete {_manifests(len(self.planned))} in {where}, keeping {kept}"
        skipped = f", skipped {len(self.skipped)} that changed" if self.skipped else ""
        return f"deleted {_manifests(len(self.deleted))} in {where}{skipped}"

    def detail(self) -> dict[str, DetailValue]:
        """The summary a ``retention.completed`` event carries."""
        return {
            "repositories": self.repositories,
            "manifests_deleted": len(self.deleted),
            "manifests_kept": len(self.decisions) - len(self.planned),
            "skipped": len(self.skipped),
        }


def _count(number: int, one: str, many: str) -> str:
    return f"{number} {one if number == 1 else many}"


def _manifests(number: int) -> str:
    return _count(number, "manifest", "manifests")


class RetentionService:
    def __init__(
        self,
        metadata: MetadataStore,
        inventory: InventoryStore,
        deletions: DeletionLog,
        immutability: ImmutabilityService,
        policies: Sequence[RetentionPolicy],
        *,
        grace_seconds: float = 3600.0,
        telemetry: Telemetry = NO_TELEMETRY,
        clock: Callable[[], float] = time.time,
        gate: WriteGate | None = None,
        events: EventRecorder | None = None,
    ) -> None:
        self.events = events  # where a run's retention.completed event goes
        self.gate = gate  # a real run is a write: refused in read-only mode
        self.pruner = Pruner(
            inventory, deletions, immutability, logger=log, label="retention", clock=clock,
            on_deleted=lambda d: telemetry.count("retention_manifests_deleted", policy=d.policy),
        )  # fmt: skip
        self.metadata = metadata
        self.inventory = inventory
        self.deletions = deletions
        self.immutability = immutability
        self.policies = tuple(policies)
        self.grace_seconds = grace_seconds
        self.telemetry = telemetry
        self.clock = clock

    async def run(self, *, dry_run: bool = False, actor: str = "retention") -> RetentionReport:
        report = RetentionReport(dry_run=dry_run)
        if self.gate is not None and not dry_run and await self.gate.read_only():
            raise RegistryError(ErrorCode.UNSUPPORTED, "the registry is in read-only mode")
        async for repository, policy in self._assignments():
            decisions = await self.plan(repository, policy)
            report.repositories += 1
            report.decisions += decisions
            if not dry_run:
                await self._apply(decisions, report, actor)
        log.info("retention: %s", report.summary())
        if not dry_run and self.events is not None:
            target = EventTarget(detail=report.detail())
            origin = EventOrigin(actor=actor)
            event = new_event(EventKind.RETENTION_COMPLETED, origin, "", target)
            await self.events.record_event(event)
        return report

    async def plan(self, repository: str, policy: RetentionPolicy) -> list[Decision]:
        ctx = await self.pruner.context(repository, self.grace_seconds)
        entries = await self.inventory.repository_manifests(repository)
        return plan_repository(repository, entries, policy, ctx)

    async def _assignments(self) -> AsyncIterator[tuple[str, RetentionPolicy]]:
        """Every repository with the first policy that covers it."""
        if not self.policies:
            return
        last = ""
        while True:
            names = await self.metadata.list_repositories(last, PAGE)
            for name in names:
                policy = next((p for p in self.policies if p.covers(name)), None)
                if policy is not None:
                    yield name, policy
            if len(names) < PAGE:
                return
            last = names[-1]

    async def _apply(self, decisions: list[Decision], report: RetentionReport, actor: str) -> None:
        outcome = await self.pruner.apply(decisions, actor)
        report.deleted += outcome.deleted
        report.skipped += outcome.skipped

    async def history(self, limit: int, repository: str | None = None) -> list[DeletionRecord]:
        return await self.deletions.deletions(limit, repository)
