"""The composition root's replication part (called by ``bootstrap.py`` and ``bootstrap_jobs``).

Builds the replication service over the SQL store, the job queue and the access policy, with
the ends of a run: this registry (its services, storage and metadata) and the policy's peer
(the upstream client with pushes, guarded by ``dockyard.outbound`` as the mirror is), and
registers the run job (``replication.run``), the schedules loop and the on-push consumer.
"""

from __future__ import annotations

from dockyard.bootstrap_events import database_is_sqlite
from dockyard.bootstrap_mirror import outbound_policy
from dockyard.config import Settings
from dockyard.jobs.runner import JobRunner
from dockyard.persistence.replication_records import RunRow
from dockyard.persistence.sql import Database, SqlOutbox
from dockyard.persistence.sql.event_cursors import SqlEventCursors
from dockyard.persistence.sql.replication import SqlReplicationStore
from dockyard.services.jobs.queue import JobQueue
from dockyard.services.replication import triggers
from dockyard.services.replication.endpoints import RemoteEndpoint
from dockyard.services.replication.local import LocalEndpoint, LocalServices
from dockyard.services.replication.peer import PeerClient
from dockyard.services.replication.policy import Policy
from dockyard.services.replication.runs import Ends, RunExecutor
from dockyard.services.replication.service import RUN_KIND, ReplicationService
from dockyard.services.upstream.client import UpstreamConfig
from dockyard.storage.driver import StorageDriver

PEER_TIMEOUT = 60.0


def build_replication(
    settings: Settings,
    jobs: JobQueue,
    services: LocalServices,
    storage: StorageDriver,
    database: Database,
) -> ReplicationService:
    """The service; the job queue runs its copies, ``services`` are this registry's end."""
    store = SqlReplicationStore(database)
    guard = outbound_policy(settings, deny_private=True)
    holder: list[ReplicationService] = []

    async def ends(run: RunRow, policy: Policy) -> Ends:
        credentials = await holder[0].credentials(run.policy_id)
        config = UpstreamConfig(policy.url.rstrip("/"), guard, credentials.username,
                                credentials.password, PEER_TIMEOUT)  # fmt: skip
        client = PeerClient(config)
        peer = RemoteEndpoint(client, store, run.policy_id, policy.chunk_bytes)
        here = LocalEndpoint(services, storage, services.blobs.metadata, str(run.policy_id),
                             policy.chunk_bytes)  # fmt: skip
        pair = (here, peer) if policy.direction == "push" else (peer, here)
        return Ends(pair[0], pair[1], client.aclose)

    service = ReplicationService(store, jobs, services.policy, RunExecutor(store, ends))
    holder.append(service)
    return service


def register_replication_jobs(
    runner: JobRunner, settings: Settings, service: ReplicationService | None, database: Database
) -> None:
    """The run and schedule jobs, and the consumer that turns pushes into runs."""
    if service is None:
        return
    runner.handle(RUN_KIND, triggers.run_handler(service), max_attempts=1)
    runner.work_loop("replication-schedules", triggers.schedules_loop(service))
    outbox = SqlOutbox(database, snapshot_bound=not database_is_sqlite(settings))
    consumer = triggers.ReplicationOnPush(outbox, SqlEventCursors(database), service)
    runner.work_loop("replication-on-push", consumer.run_forever)
