"""Carrying out deletion decisions (retention, bulk deletion), each re-checked as it is done.

A manifest is deleted only if, inside the deleting transaction, it still carries exactly the
tags it was planned with, no index lists it, and no immutable tag protects it; a tag is removed
only if it still points to the planned manifest and is not immutable. Whatever changed since
the plan is kept and reported. Every deletion is logged and written to the deletion log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from dockyard.core.events import EventOrigin
from dockyard.persistence.lifecycle_records import (
    DeletionLog,
    DeletionRecord,
    InventoryStore,
    ManifestFacts,
)
from dockyard.services.lifecycle.immutability import (
    ImmutabilityService,
    ImmutableRule,
    protected_by,
)
from dockyard.services.lifecycle.retention_plan import Decision, PlanContext

CHANGED = "changed since it was planned"


@dataclass
class PruneOutcome:
    deleted: list[Decision] = field(default_factory=list)
    skipped: list[tuple[Decision, str]] = field(default_factory=list)


class Pruner:
    def __init__(
        self,
        inventory: InventoryStore,
        deletions: DeletionLog,
        immutability: ImmutabilityService,
        *,
        logger: logging.Logger,
        label: str,
        clock: Callable[[], float] = time.time,
        on_deleted: Callable[[Decision], None] = lambda decision: None,
    ) -> None:
        self.inventory = inventory
        self.deletions = deletions
        self.immutability = immutability
        self.log = logger
        self.label = label  # "retention", "delete": starts every log line
        self.clock = clock
        self.on_deleted = on_deleted

    async def context(self, repository: str, grace: float) -> PlanContext:
        """What planning needs: the time, the grace period, and which tags are immutable."""
        rules = await self.immutability.rules_for(repository)

        def immutable(tag: str) -> str | None:
            rule = next((r for r in rules if r.covers(repository, tag)), None)
            return None if rule is None else f"rule {rule.describe()}"

        return PlanContext(now=self.clock(), grace=grace, immutable=immutable)

    async def apply(self, decisions: list[Decision], actor: str) -> PruneOutcome:
        outcome = PruneOutcome()
        if not decisions:
            return outcome
        rules = await self.immutability.rules_for(decisions[0].repository)
        origin = EventOrigin(actor=actor)  # the events of each deletion (docs/events.md)
        for decision in decisions:
            if decision.delete:
                why = await self._delete(decision, rules, origin)
            elif decision.untag:
                why = await self._untag(decision, rules, origin)
            else:
                continue
            if why is None:
                await self._record(decision, actor)
                outcome.deleted.append(decision)
            elif why != "missing":
                self.log.info(
                    "%s: kept %s@%s: %s", self.label, decision.repository, decision.digest, why
                )
                outcome.skipped.append((decision, why))
        return outcome

    async def _delete(
        self, decision: Decision, rules: list[ImmutableRule], origin: EventOrigin
    ) -> str | None:
        def veto(facts: ManifestFacts) -> str | None:
            if tuple(facts.tags) != decision.tags or facts.parents:
                return CHANGED
            return protected_by(rules, decision.repository, decision.digest, facts)

        result = await self.inventory.delete_manifest_checked(
            decision.repository, decision.digest, veto, origin=origin
        )
        return None if result == "deleted" else result

    async def _untag(
        self, decision: Decision, rules: list[ImmutableRule], origin: EventOrigin
    ) -> str | None:
        for tag in decision.untag:
            rule = next((r for r in rules if r.covers(decision.repository, tag)), None)
            if rule is not None:
                return f'tag "{tag}" is immutable (rule {rule.describe()})'
        repository, digest = decision.repository, decision.digest
        removed = [
            tag
            for tag in decision.untag
            if await self.inventory.delete_tag_if(repository, tag, digest, origin=origin)
        ]
        return None if removed else CHANGED

    async def _record(self, decision: Decision, actor: str) -> None:
        tags = decision.untag or decision.tags
        what = "untagged" if decision.untag and not decision.delete else "deleted"
        record = DeletionRecord(
            decision.repository, decision.digest, tags, decision.policy,
            decision.reason if what == "deleted" else f"untagged: {decision.reason}",
            actor, self.clock(),
        )  # fmt: skip
        await self.deletions.record_deletion(record)
        self.on_deleted(decision)
        self.log.info(
            "%s: %s %s@%s (tags: %s) by %s: %s",
            self.label, what, decision.repository, decision.digest, ",".join(tags) or "none",
            decision.policy, decision.reason,
            extra={"fields": {"repository": decision.repository, "digest": decision.digest,
                              "rule": decision.policy}},
        )  # fmt: skip
