"""What starts runs besides a person: pushes (an outbox consumer), schedules, and the jobs.

:class:`ReplicationOnPush` reads the outbox with its own position (consumer
``replication-on-push``): each tag pushed (``manifest.pushed`` with tags) into a repository
that an ``on_push`` policy selects becomes a run scoped to that repository and tag; a deleted
tag or manifest becomes a run scoped to the repository when the policy mirrors deletions.
The run's job is unique per (policy, event), so a node that dies between queueing and moving
its position queues nothing twice. A failed run of a push is retried by the queue.

A loop (every ``SCHEDULE_SECONDS``, where jobs run) queues the runs of policies whose
interval is due; the job ``replication.run`` executes one run.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from dockyard.core.events import EventKind, StoredEvent
from dockyard.persistence.stores import EventCursorStore, OutboxStore
from dockyard.services.events.consumer import OutboxConsumer
from dockyard.services.jobs.model import Handler, Job, JobFailedError, PermanentJobError
from dockyard.services.replication.attached import Scope, is_attached_tag, parse_scope
from dockyard.services.replication.filters import selected
from dockyard.services.replication.policy import Policy
from dockyard.services.replication.service import ReplicationService

log = logging.getLogger("dockyard.replication")
CONSUMER = "replication-on-push"
SCHEDULE_SECONDS = 30.0
DELETIONS = (EventKind.MANIFEST_DELETED, EventKind.TAG_DELETED)


class ReplicationOnPush(OutboxConsumer):
    def __init__(
        self,
        outbox: OutboxStore,
        cursors: EventCursorStore,
        service: ReplicationService,
        **options: Any,
    ) -> None:
        super().__init__(outbox, **options)
        self.cursors = cursors
        self.service = service

    # Positions are passed through as the cursor store gives them (a sequence number here;
    # (txid, sequence) where the outbox is read in transaction order): typed loosely so that
    # either form fits.
    async def position(self) -> Any:
        return await self.cursors.position(CONSUMER)

    async def consume(self, events: Sequence[StoredEvent], read_from: Any, to: Any) -> int:
        queued = 0
        policies = await self.service.on_push_policies()
        for stored in events if policies else ():
            for scope in _scopes(stored):
                parsed = parse_scope(scope)
                for row, policy in policies:
                    if not _wanted(policy, parsed):
                        continue
                    key = f"replication-push:{row.id}:{stored.sequence}:{scope}"
                    if await self.service.enqueue_run(row, "push", scope, unique_key=key):
                        queued += 1
        return queued if await self.cursors.advance(CONSUMER, read_from, to) else -1


def _wanted(policy: Policy, scope: Scope) -> bool:
    if not selected(policy.repositories, scope.repository):
        return False
    if scope.digest or is_attached_tag(scope.tag):
        return True  # attached to an image: copied when the image is (attached.py)
    if scope.tag:
        return selected(policy.tags, scope.tag, versions=True)
    return policy.mirror_deletions


def _scopes(stored: StoredEvent) -> list[str]:
    event = stored.event
    if not event.repository:
        return []
    if event.kind is EventKind.MANIFEST_PUSHED:
        if not event.target.tags:
            return [f"{event.repository}@{event.target.digest}"]
        return [f"{event.repository}:{tag}" for tag in event.target.tags]
    if event.kind in DELETIONS:
        return [f"{event.repository}:"]
    return []


def run_handler(service: ReplicationService) -> Handler:
    async def run(job: Job) -> str:
        run_id = job.payload.get("run")
        if not isinstance(run_id, int):
            raise PermanentJobError("a replication job without a run id")
        summary, retry = await service.execute(run_id)
        if retry:
            raise JobFailedError(summary)
        return summary

    return run


def schedules_loop(
    service: ReplicationService, interval: float = SCHEDULE_SECONDS
) -> Callable[[], Coroutine[Any, Any, None]]:
    """Every ``interval``: queue the runs of policies whose schedule is due. Safe on every
    node (each due run is taken by one, a compare-and-set on the policy's next run)."""

    async def loop() -> None:
        while True:
            try:
                queued = await service.enqueue_due()
                if queued:
                    log.info("%d scheduled replication run(s) queued", queued)
            except Exception as exc:  # the database away: try again next round
                log.warning("replication schedules: %s", exc)
            await asyncio.sleep(interval)

    return loop
