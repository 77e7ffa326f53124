"""SBOMs on push: every pushed image becomes a job of the queue (kind ``supplychain.sbom``).

:class:`SbomOnPush` reads ``manifest.pushed`` events from the outbox with its own position
(consumer ``sbom-on-push``) and queues one job per pushed image manifest or index, unique per
repository and digest, so a push is never slowed and a node killed mid-job loses nothing (the
queue's lease lapses and another node runs it). The job runs
:meth:`SupplyChainService.index_and_attach`, which honours the project's "SBOM on push" switch
and is idempotent. Queueing happens before the position moves: a node that dies in between
queues the same jobs again, and their unique keys keep them single.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from dockyard.core.delivery import OutboxPosition
from dockyard.core.errors import RegistryError
from dockyard.core.events import EventKind, StoredEvent
from dockyard.core.mediatypes import SUPPORTED_MANIFESTS
from dockyard.persistence.stores import EventCursorStore, OutboxStore
from dockyard.services.events.consumer import OutboxConsumer
from dockyard.services.jobs.model import Handler, Job, PermanentJobError

KIND = "supplychain.sbom"
CONSUMER = "sbom-on-push"
Enqueue = Callable[..., Awaitable[int | None]]


def wanted(stored: StoredEvent) -> bool:
    event = stored.event
    pushed = event.kind is EventKind.MANIFEST_PUSHED
    return pushed and event.target.media_type in SUPPORTED_MANIFESTS


class PushedManifestJobs(OutboxConsumer):
    """Queues one job of :attr:`kind` per pushed image manifest or index, unique per
    repository and digest, reading the outbox as consumer :attr:`consumer`."""

    consumer = ""
    kind = ""
    key_prefix = ""

    def __init__(
        self, outbox: OutboxStore, cursors: EventCursorStore, enqueue: Enqueue, **options: Any
    ) -> None:
        super().__init__(outbox, **options)
        self.cursors = cursors
        self.enqueue = enqueue

    async def position(self) -> OutboxPosition:
        return await self.cursors.position(self.consumer)

    async def consume(
        self, events: Sequence[StoredEvent], read_from: OutboxPosition, to: OutboxPosition
    ) -> int:
        queued = 0
        for stored in filter(wanted, events):
            repository, digest = stored.event.repository, stored.event.target.digest
            payload = {"repository": repository, "digest": digest}
            key = f"{self.key_prefix}:{repository}@{digest}"
            if await self.enqueue(self.kind, payload, unique_key=key):
                queued += 1
        return queued if await self.cursors.advance(self.consumer, read_from, to) else -1


class SbomOnPush(PushedManifestJobs):
    consumer, kind, key_prefix = CONSUMER, KIND, "sbom"


def sbom_handler(
    index_and_attach: Callable[[str, str], Awaitable[Sequence[object]]],
) -> Handler:
    async def run(job: Job) -> str:
        repository, digest = str(job.payload["repository"]), str(job.payload["digest"])
        try:
            attached = await index_and_attach(repository, digest)
        except RegistryError as exc:  # deleted since the push, or not an image: no retry helps
            raise PermanentJobError(f"{repository}@{digest}: {exc}") from None
        return f"{repository}@{digest}: {len(attached)} SBOM(s) attached"

    return run
