"""Schema migrations for the SQLite metadata database, applied in order by ``user_version``.

Keep in step with ``postgres/schema.py``: migration N means the same change in both.
"""

from __future__ import annotations

from dockyard.persistence.sql.consumer_positions_schema import (
    CONSUMER_POSITIONS_DOWNGRADE,
    consumer_positions_migration,
)
from dockyard.persistence.sql.delivery_schema import DELIVERY_DOWNGRADE, delivery_migration
from dockyard.persistence.sql.events_more_schema import events_more_migration
from dockyard.persistence.sql.identity_schema import identity_migration
from dockyard.persistence.sql.jobs_schema import jobs_migration
from dockyard.persistence.sql.lifecycle_schema import (
    lifecycle_migration,
    pulls_migration,
    reservations_migration,
)
from dockyard.persistence.sql.migrations import Migration, Step
from dockyard.persistence.sql.mirror_schema import (
    MIRROR_UPSTREAMS_DOWNGRADE,
    mirror_migration,
    mirror_upstreams_migration,
)
from dockyard.persistence.sql.outbox_schema import outbox_migration
from dockyard.persistence.sql.replication_schema import REPLICATION_DOWNGRADE, replication_migration
from dockyard.persistence.sql.supplychain_schema import (
    SUPPLY_CHAIN_DOWNGRADE,
    supply_chain_migration,
)
from dockyard.persistence.sql.trust_schema import TRUST_DOWNGRADE, trust_migration
from dockyard.persistence.sql.ui_sessions_schema import UI_SESSIONS_DOWNGRADE, ui_sessions_migration
from dockyard.persistence.sql.vulns_schema import VULNS_DOWNGRADE, vulns_migration
from dockyard.persistence.sql.webhook_schema import webhooks_migration

MIGRATIONS: tuple[Step, ...] = (
    """
    CREATE TABLE repositories (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        created_at REAL NOT NULL
    );
    CREATE TABLE blobs (
        id INTEGER PRIMARY KEY,
        digest TEXT NOT NULL UNIQUE,
        size INTEGER NOT NULL,
        media_type TEXT,
        committed_at REAL NOT NULL,
        pinned_until REAL NOT NULL DEFAULT 0
    );
    CREATE TABLE repository_blobs (
        repository_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
        blob_id INTEGER NOT NULL REFERENCES blobs(id),
        created_at REAL NOT NULL,
        PRIMARY KEY (repository_id, blob_id)
    ) WITHOUT ROWID;
    CREATE INDEX repository_blobs_blob ON repository_blobs(blob_id);
    CREATE TABLE manifests (
        id INTEGER PRIMARY KEY,
        repository_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
        digest TEXT NOT NULL,
        media_type TEXT NOT NULL,
        artifact_type TEXT,
        content BLOB NOT NULL,
        size INTEGER NOT NULL,
        subject_digest TEXT,
        annotations BLOB,
        created_at REAL NOT NULL,
        UNIQUE (repository_id, digest)
    );
    CREATE INDEX manifests_subject ON manifests(repository_id, subject_digest)
        WHERE subject_digest IS NOT NULL;
    CREATE TABLE manifest_refs (
        manifest_id INTEGER NOT NULL REFERENCES manifests(id) ON DELETE CASCADE,
        digest TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('blob', 'manifest')),
        PRIMARY KEY (manifest_id, kind, digest)
    ) WITHOUT ROWID;
    CREATE INDEX manifest_refs_digest ON manifest_refs(digest);
    CREATE TABLE tags (
        repository_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        manifest_id INTEGER NOT NULL REFERENCES manifests(id) ON DELETE CASCADE,
        updated_at REAL NOT NULL,
        PRIMARY KEY (repository_id, name)
    ) WITHOUT ROWID;
    CREATE INDEX tags_manifest ON tags(manifest_id);
    CREATE TABLE uploads (
        id TEXT PRIMARY KEY,
        repository TEXT NOT NULL,
        principal TEXT NOT NULL,
        committed_offset INTEGER NOT NULL DEFAULT 0,
        started_at REAL NOT NULL,
        last_activity REAL NOT NULL
    );
    CREATE INDEX uploads_activity ON uploads(last_activity);
    """,
    # 2: blob life cycle for online garbage collection (publishing -> ready -> deleting)
    """
    ALTER TABLE blobs ADD COLUMN state TEXT NOT NULL DEFAULT 'ready';
    CREATE INDEX blobs_collectable ON blobs(pinned_until) WHERE state <> 'deleting';
    CREATE INDEX blobs_deleting ON blobs(state) WHERE state = 'deleting';
    CREATE INDEX manifests_created ON manifests(created_at);
    """,
    # 3: identity and access (projects, users, groups, roles, members, robots, tokens, audit)
    identity_migration("sqlite"),
    # 4: lifecycle (scheduled jobs, runtime settings, quotas, immutable tags, deletions)
    lifecycle_migration("sqlite"),
    # 5: when each manifest was last pulled (retention's "not pulled for")
    pulls_migration("sqlite"),
    # 6: upload sessions remember their client (user, or address when anonymous) for the caps
    """
    ALTER TABLE uploads ADD COLUMN client TEXT NOT NULL DEFAULT '';
    CREATE INDEX uploads_client ON uploads(client);
    """,
    # 7: bytes held by uploads in progress in projects with a quota
    reservations_migration("sqlite"),
    # 8: the outbox: domain events stored in the transaction of their change (docs/events.md)
    outbox_migration("sqlite"),
    # 9: project webhooks (docs/webhooks.md)
    webhooks_migration("sqlite"),
    # 10: the remaining events: a tag's previous target, quota alerts, outbox consumers' cursors
    events_more_migration("sqlite"),
    # 11: the pull-through cache: when the upstream last confirmed each cached tag (docs/mirror.md)
    mirror_migration("sqlite"),
    # 12: the job queue and its schedules, replacing the job_runs leases (docs/jobs.md)
    jobs_migration("sqlite"),
    # 13: event delivery: the dispatcher's cursor, deliveries, the outbox's writing transaction
    Migration(delivery_migration("sqlite"), DELIVERY_DOWNGRADE),
    # 14: layer inventories (once per layer digest) and projects.sbom_on_push (supply-chain.md)
    Migration(supply_chain_migration("sqlite"), SUPPLY_CHAIN_DOWNGRADE),
    # trust policies per project: signatures enforced at pull time (supply-chain.md)
    Migration(trust_migration("sqlite"), TRUST_DOWNGRADE),
    # outbox consumers' positions in (txid, sequence) order, as the delivery engine's
    Migration(consumer_positions_migration("sqlite"), CONSUMER_POSITIONS_DOWNGRADE),
    # the pull-through cache's upstreams added at run time (docs/mirror.md)
    Migration(mirror_upstreams_migration("sqlite"), MIRROR_UPSTREAMS_DOWNGRADE),
    # web UI sessions and the key that signs their cookies (docs/ui.md)
    Migration(ui_sessions_migration("sqlite"), UI_SESSIONS_DOWNGRADE),
    # replication: policies, runs and their per-image results, uploads to resume (replication.md)
    Migration(replication_migration("sqlite"), REPLICATION_DOWNGRADE),
    # vulnerability advisories, scanned images' packages, matches (docs/vulnerabilities.md)
    Migration(vulns_migration("sqlite"), VULNS_DOWNGRADE),
)
