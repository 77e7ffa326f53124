"""The metadata store on either backend: repositories, blobs, manifests, tags and referrers.

Every check-then-write runs inside one ``Database.transaction``, so it is all or nothing and
a concurrent writer sees either the old or the new state. Writes that are a single statement
run on their own. Queries use ``?`` placeholders and SQL both SQLite and PostgreSQL accept.
"""

from __future__ import annotations

import time

from dockyard.core.events import EventKind, EventOrigin, EventTarget
from dockyard.persistence.lifecycle_records import ImmutableTagError
from dockyard.persistence.records import (
    BlobRecord,
    ManifestRecord,
    NewManifest,
    ReferrerRecord,
    UploadRecord,
)
from dockyard.persistence.sql.event_targets import deleted_manifest, pushed
from dockyard.persistence.sql.outbox import emit
from dockyard.persistence.sql.session import Database, Lookup, Session, chunks, placeholders
from dockyard.persistence.sql.uploads import SqlUploadStore

# The manifest GET/HEAD hot path: hot lookups (see sql/session.py), one row of text + bytes.
_MANIFEST_COLUMNS = (str, str, bytes, str, str)
_MANIFEST_BY_TAG = Lookup(
    "manifest_by_tag",
    """
SELECT m.digest, m.media_type, m.content, m.artifact_type, m.subject_digest
FROM repositories r JOIN tags t ON t.repository_id = r.id JOIN manifests m ON m.id = t.manifest_id
WHERE r.name = ? AND t.name = ?
""",
    _MANIFEST_COLUMNS,
)
_MANIFEST_BY_DIGEST = Lookup(
    "manifest_by_digest",
    """
SELECT m.digest, m.media_type, m.content, m.artifact_type, m.subject_digest
FROM repositories r JOIN manifests m ON m.repository_id = r.id
WHERE r.name = ? AND m.digest = ?
""",
    _MANIFEST_COLUMNS,
)
_LINKED_BLOB = """
SELECT b.digest, b.size, b.media_type
FROM repositories r JOIN repository_blobs rb ON rb.repository_id = r.id
JOIN blobs b ON b.id = rb.blob_id
WHERE r.name = ? AND b.digest = ?
"""
_MANIFEST_TO_DELETE = """
SELECT m.id, m.media_type, m.size FROM repositories r JOIN manifests m ON m.repository_id = r.id
WHERE r.name = ? AND m.digest = ?
"""
_TAG_TARGET = """
SELECT r.id, m.digest, m.media_type, m.size
FROM repositories r JOIN tags t ON t.repository_id = r.id JOIN manifests m ON m.id = t.manifest_id
WHERE r.name = ? AND t.name = ?
"""
_REFERRERS = """
SELECT m.digest, m.media_type, m.size, m.artifact_type, m.annotations
FROM repositories r JOIN manifests m ON m.repository_id = r.id
WHERE r.name = ? AND m.subject_digest = ?
"""
_INSERT_MANIFEST = """
INSERT INTO manifests(repository_id, digest, media_type, artifact_type, content, size,
    subject_digest, annotations, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id
"""
# The SET reads the row as it was, so ``previous_manifest_id`` is what the tag pointed to;
# RETURNING gives that manifest's digest (it still exists: the tag referenced it until now).
_UPSERT_TAG = """
INSERT INTO tags(repository_id, name, manifest_id, updated_at) VALUES (?, ?, ?, ?)
ON CONFLICT(repository_id, name) DO UPDATE
SET previous_manifest_id = tags.manifest_id, manifest_id = excluded.manifest_id,
    updated_at = excluded.updated_at
RETURNING (SELECT m.digest FROM manifests m WHERE m.id = tags.previous_manifest_id)
"""
# Insert a blob row, or pin an existing one unless garbage collection is deleting it.
_CLAIM = """
INSERT INTO blobs(digest, size, committed_at, pinned_until, state) VALUES (?, ?, ?, ?, ?)
ON CONFLICT(digest) DO UPDATE SET pinned_until = excluded.pinned_until
WHERE blobs.state <> 'deleting'
"""
# "pinned_until = max(pinned_until, ?)" without a dialect's max(): only ever move it forward.
_PIN = "UPDATE blobs SET pinned_until = ? WHERE pinned_until < ? AND digest"
_PIN_LINKED = """
UPDATE blobs SET pinned_until = CASE WHEN pinned_until < ? THEN ? ELSE pinned_until END
WHERE digest = ? AND state = 'ready' AND EXISTS (
    SELECT 1 FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id
    WHERE rb.blob_id = blobs.id AND r.name = ?)
"""


class _MissingReferencesError(Exception):
    def __init__(self, digests: list[str]) -> None:
        super().__init__(", ".join(digests))
        self.digests = digests


class SqlMetadata:
    """Every metadata operation the services need, each atomic."""

    def __init__(self, database: Database, *, pin_seconds: float = 3600.0) -> None:
        self.db = database
        self.pin_seconds = pin_seconds
        self.uploads = SqlUploadStore(database)

    # repositories -------------------------------------------------------------------------

    async def _repository_id(self, session: Session, name: str) -> int | None:
        row = await session.fetchone("SELECT id FROM repositories WHERE name = ?", (name,))
        return int(row[0]) if row else None

    async def _ensure_repository(self, session: Session, name: str) -> int:
        """The repository's id, creating it (concurrent creators all get the same row)."""
        await session.execute(
            "INSERT INTO repositories(name, created_at) VALUES (?, ?) ON CONFLICT(name) DO NOTHING",
            (name, time.time()),
        )
        repository_id = await self._repository_id(session, name)
        assert repository_id is not None
        return repository_id

    async def repository_exists(self, name: str) -> bool:
        return await self._repository_id(self.db, name) is not None

    async def list_repositories(self, last: str, limit: int) -> list[str]:
        rows = await self.db.fetchall(
            "SELECT name FROM repositories WHERE name > ? ORDER BY name LIMIT ?", (last, limit)
        )
        return [r[0] for r in rows]

    # blobs ----------------------------------------------------------------------------------

    async def linked_blob(self, repository: str, digest: str) -> BlobRecord | None:
        row = await self.db.fetchone(_LINKED_BLOB, (repository, digest))
        return BlobRecord(row[0], row[1], row[2]) if row else None

    async def any_blob(self, digest: str) -> BlobRecord | None:
        row = await self.db.fetchone(
            "SELECT digest, size, media_type FROM blobs WHERE digest = ?", (digest,)
        )
        return BlobRecord(row[0], row[1], row[2]) if row else None

    async def repositories_with_blob(self, digest: str, limit: int = 50) -> list[str]:
        rows = await self.db.fetchall(
            "SELECT r.name FROM blobs b JOIN repository_blobs rb ON rb.blob_id = b.id "
            "JOIN repositories r ON r.id = rb.repository_id WHERE b.digest = ? LIMIT ?",
            (digest, limit),
        )
        return [r[0] for r in rows]

    async def claim_blob(self, digest: str, size: int) -> str:
        """Announce bytes about to be published; pins the blob against garbage collection.

        Returns ``"publishing"`` (new, or another publisher's) or ``"ready"`` (already
        published), or ``"deleting"`` while garbage collection removes an older copy: the
        caller must wait until that is done and claim again.
        """
        now = time.time()

        async def work(session: Session) -> str:
            await session.execute(_CLAIM, (digest, size, now, now + self.pin_seconds, "publishing"))
            row = await session.fetchone("SELECT state FROM blobs WHERE digest = ?", (digest,))
            assert row is not None
            return str(row[0])

        return await self.db.transaction(work)

    async def commit_blob(
        self,
        repository: str,
        digest: str,
        size: int,
        *,
        claimed: bool = False,
        origin: EventOrigin | None = None,
    ) -> BlobRecord | None:
        """Mark published bytes ready and link them into ``repository``, in one transaction,
        with a ``blob.pushed`` event (with an ``origin``: an upload that completed).

        None when garbage collection is deleting the blob, or, for a ``claimed`` blob, when
        its row is gone: a sweep that finished since the claim may have deleted the bytes
        just placed, so the publisher must claim and place them again. Nothing is linked
        (and no event stored) then. Without a claim (bytes already in place, as an in-place
        import has them) a missing row is created.
        """
        now = time.time()

        async def work(session: Session) -> bool:
            if claimed:
                pin = now + self.pin_seconds
                await session.execute(_PIN + " = ?", (pin, pin, digest))
            else:
                await session.execute(_CLAIM, (digest, size, now, now + self.pin_seconds, "ready"))
            await session.execute(
                "UPDATE blobs SET state = 'ready' WHERE digest = ? AND state = 'publishing'",
                (digest,),
            )
            row = await session.fetchone("SELECT state FROM blobs WHERE digest = ?", (digest,))
            if row is None or row[0] != "ready":
                return False
            await self._link(session, repository, digest, now)
            target = EventTarget(digest, size=size)
            await emit(session, origin, EventKind.BLOB_PUSHED, repository, target)
            return True

        return BlobRecord(digest, size) if await self.db.transaction(work) else None

    async def link_blob(
        self,
        repository: str,
        digest: str,
        *,
        source: str = "",
        origin: EventOrigin | None = None,
    ) -> BlobRecord | None:
        """Link an existing blob into ``repository`` (a mount from ``source``) and pin it; None
        when unknown. A new link is a ``blob.mounted`` event (with an ``origin``)."""
        now = time.time()

        async def work(session: Session) -> BlobRecord | None:
            row = await session.fetchone(
                "SELECT size, media_type FROM blobs WHERE digest = ? AND state = 'ready'",
                (digest,),
            )
            if row is None:
                return None
            pin = now + self.pin_seconds
            await session.execute(_PIN + " = ?", (pin, pin, digest))
            if await self._link(session, repository, digest, now):
                target = EventTarget(digest, row[1] or "", int(row[0]), source=source)
                await emit(session, origin, EventKind.BLOB_MOUNTED, repository, target)
            return BlobRecord(digest, row[0], row[1])

        return await self.db.transaction(work)

    async def pin_blob(self, repository: str, digest: str) -> bool:
        """Pin a ready blob linked into ``repository`` against garbage collection (a HEAD a
        push relies on); one statement, so the link is checked where the pin is taken.

        False when ``repository`` may not see the blob (nothing is pinned then: a HEAD must
        not keep someone else's garbage alive), or a sweep is already deleting it.
        """
        pin = time.time() + self.pin_seconds
        changed = await self.db.execute(_PIN_LINKED, (pin, pin, digest, repository))
        return changed > 0

    async def _link(self, session: Session, repository: str, digest: str, now: float) -> bool:
        """Link the blob into ``repository``; False when it was linked already."""
        repository_id = await self._ensure_repository(session, repository)
        changed = await session.execute(
            "INSERT INTO repository_blobs(repository_id, blob_id, created_at) "
            "SELECT ?, id, ? FROM blobs WHERE digest = ? ON CONFLICT DO NOTHING",
            (repository_id, now, digest),
        )
        return changed > 0

    async def unlink_blob(
        self, repository: str, digest: str, *, origin: EventOrigin | None = None
    ) -> bool:
        """Unlink the blob from ``repository`` (a ``blob.deleted`` event); False when it was
        not linked."""

        async def work(session: Session) -> bool:
            changed = await session.execute(
                "DELETE FROM repository_blobs WHERE repository_id = "
                "(SELECT id FROM repositories WHERE name = ?) "
                "AND blob_id = (SELECT id FROM blobs WHERE digest = ?)",
                (repository, digest),
            )
            if changed:
                target = EventTarget(digest)
                await emit(session, origin, EventKind.BLOB_DELETED, repository, target)
            return changed > 0

        return await self.db.transaction(work)

    # manifests ------------------------------------------------------------------------------

    async def manifest_by_tag(self, repository: str, tag: str) -> ManifestRecord | None:
        row = await self.db.lookup(_MANIFEST_BY_TAG, (repository, tag))
        return ManifestRecord(*row) if row else None

    async def manifest_by_digest(self, repository: str, digest: str) -> ManifestRecord | None:
        row = await self.db.lookup(_MANIFEST_BY_DIGEST, (repository, digest))
        return ManifestRecord(*row) if row else None

    async def put_manifest(
        self, repository: str, manifest: NewManifest, *, origin: EventOrigin | None = None
    ) -> list[str]:
        """Check references and record the manifest, its references and tags atomically,
        with its ``manifest.pushed`` event (one INSERT; an index's children are listed in it).

        Returns the digests that are missing from ``repository``; when any are, nothing is
        written (not even the repository row, nor the event).
        """
        now = time.time()

        async def work(session: Session) -> None:
            repository_id = await self._ensure_repository(session, repository)
            missing = await self._missing_references(session, repository_id, manifest)
            if missing:
                raise _MissingReferencesError(missing)
            await self._check_frozen_tags(session, repository_id, manifest)
            manifest_id = await self._upsert_manifest(session, repository_id, manifest, now)
            await self._record_references(session, manifest_id, manifest, now)
            moved = await self._set_tags(session, repository_id, manifest, manifest_id, now)
            target = pushed(manifest, moved)
            await emit(session, origin, EventKind.MANIFEST_PUSHED, repository, target)

        try:
            await self.db.transaction(work)
        except _MissingReferencesError as missing:
            return missing.digests
        return []

    @staticmethod
    async def _set_tags(
        session: Session, repository_id: int, manifest: NewManifest, manifest_id: int, now: float
    ) -> dict[str, str]:
        """Point the push's tags at the manifest; tag -> digest for each tag it moved away
        from another manifest (read by the upsert itself: no extra statement)."""
        moved: dict[str, str] = {}
        for tag in manifest.tags:
            row = await session.fetchone(_UPSERT_TAG, (repository_id, tag, manifest_id, now))
            if row is not None and row[0] is not None and row[0] != manifest.digest:
                moved[tag] = str(row[0])
        return moved

    @staticmethod
    async def _check_frozen_tags(
        session: Session, repository_id: int, manifest: NewManifest
    ) -> None:
        """Immutable tags may be created, or pushed again unchanged, but never moved: checked
        inside the push's transaction, so two racing first pushes cannot both win."""
        for tag in manifest.frozen_tags:
            row = await session.fetchone(
                "SELECT m.digest FROM tags t JOIN manifests m ON m.id = t.manifest_id "
                "WHERE t.repository_id = ? AND t.name = ?",
                (repository_id, tag),
            )
            if row is not None and row[0] != manifest.digest:
                raise ImmutableTagError(tag, str(row[0]))

    async def _missing_references(
        self, session: Session, repository_id: int, manifest: NewManifest
    ) -> list[str]:
        """References the repository lacks; one held with another size than declared raises
        ReferenceSizeError (every pull would fail on it)."""
        blobs = await self._present(
            session,
            "SELECT b.digest, b.size FROM repository_blobs rb JOIN blobs b ON b.id = rb.blob_id "
            "WHERE rb.repository_id = ? AND b.digest IN",
            repository_id,
            manifest.blob_digests,
        )
        children = await self._present(
            session,
            "SELECT digest, size FROM manifests WHERE repository_id = ? AND digest IN",
            repository_id,
            manifest.child_digests,
        )
        manifest.check_sizes({**blobs, **children})
        if manifest.references_optional:
            return []
        missing = [d for d in manifest.blob_digests if d not in blobs]
        optional = manifest.optional_children
        return missing + [
            d for d in manifest.child_digests if d not in children and d not in optional
        ]

    @staticmethod
    async def _present(
        session: Session, query: str, repository_id: int, digests: tuple[str, ...]
    ) -> dict[str, int]:
        """Digest -> size of those of ``digests`` the ``... IN`` query finds, a few hundred per
        statement."""
        found: dict[str, int] = {}
        for chunk in chunks(digests):
            sql = f"{query} ({placeholders(len(chunk))})"
            rows = await session.fetchall(sql, (repository_id, *chunk))
            found.update((str(r[0]), int(r[1])) for r in rows)
        return found

    async def _upsert_manifest(
        self, session: Session, repository_id: int, manifest: NewManifest, now: float
    ) -> int:
        row = await session.fetchone(
            "SELECT id FROM manifests WHERE repository_id = ? AND digest = ?",
            (repository_id, manifest.digest),
        )
        if row is None:
            row = await session.fetchone(
                _INSERT_MANIFEST,
                (
                    repository_id,
                    manifest.digest,
                    manifest.media_type,
                    manifest.artifact_type,
                    manifest.content,
                    len(manifest.content),
                    manifest.subject,
                    manifest.annotations_json,
                    now,
                ),
            )
        assert row is not None
        return int(row[0])

    async def _record_references(
        self, session: Session, manifest_id: int, manifest: NewManifest, now: float
    ) -> None:
        rows = [(manifest_id, d, "blob") for d in manifest.blob_digests]
        rows += [(manifest_id, d, "manifest") for d in manifest.child_digests]
        if rows:
            await session.executemany(
                "INSERT INTO manifest_refs(manifest_id, digest, kind) VALUES (?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                rows,
            )
        pin = now + self.pin_seconds
        for chunk in chunks(manifest.blob_digests):
            sql = f"{_PIN} IN ({placeholders(len(chunk))})"
            await session.execute(sql, (pin, pin, *chunk))

    async def delete_manifest(
        self, repository: str, digest: str, *, origin: EventOrigin | None = None
    ) -> bool:
        """Delete a manifest by digest; its tags and references go with it (cascade), and a
        ``manifest.deleted`` event lists the tags it carried."""

        async def work(session: Session) -> bool:
            row = await session.fetchone(_MANIFEST_TO_DELETE, (repository, digest))
            if row is None:
                return False
            target = await deleted_manifest(session, int(row[0]), digest, str(row[1]), row[2])
            await session.execute("DELETE FROM manifests WHERE id = ?", (row[0],))
            await emit(session, origin, EventKind.MANIFEST_DELETED, repository, target)
            return True

        return await self.db.transaction(work)

    async def referrers(
        self, repository: str, subject: str, artifact_type: str | None
    ) -> list[ReferrerRecord]:
        sql = _REFERRERS
        params: tuple[str, ...] = (repository, subject)
        if artifact_type is not None:
            sql += " AND m.artifact_type = ?"
            params += (artifact_type,)
        rows = await self.db.fetchall(sql + " ORDER BY m.id", params)
        return [ReferrerRecord(*row) for row in rows]

    # tags -----------------------------------------------------------------------------------

    async def list_tags(self, repository: str, last: str, limit: int) -> list[str] | None:
        """Tags after ``last`` in byte order; None when the repository is unknown."""
        repository_id = await self._repository_id(self.db, repository)
        if repository_id is None:
            return None
        rows = await self.db.fetchall(
            "SELECT name FROM tags WHERE repository_id = ? AND name > ? ORDER BY name LIMIT ?",
            (repository_id, last, limit),
        )
        return [r[0] for r in rows]

    async def delete_tag(
        self, repository: str, tag: str, *, origin: EventOrigin | None = None
    ) -> bool:
        """Delete the tag (the manifest stays), with a ``tag.deleted`` event naming the
        manifest it pointed to; False when there is no such tag."""

        async def work(session: Session) -> bool:
            row = await session.fetchone(_TAG_TARGET, (repository, tag))
            if row is None:
                return False
            await session.execute(
                "DELETE FROM tags WHERE repository_id = ? AND name = ?", (row[0], tag)
            )
            target = EventTarget(str(row[1]), str(row[2]), int(row[3]), tags=(tag,))
            await emit(session, origin, EventKind.TAG_DELETED, repository, target)
            return True

        return await self.db.transaction(work)

    async def get_upload(self, upload_id: str) -> UploadRecord | None:
        return await self.uploads.get(upload_id)
