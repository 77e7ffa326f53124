"""SQLite stores: repositories, blobs, manifests, tags, uploads and referrers."""

from __future__ import annotations

import time

from dockyard.persistence.records import (
    BlobRecord,
    ManifestRecord,
    NewManifest,
    ReferrerRecord,
    UploadRecord,
)
from dockyard.persistence.sqlite.database import SqliteDatabase
from dockyard.persistence.sqlite.uploads import SqliteUploadStore

_MANIFEST_BY_TAG = """
SELECT m.digest, m.media_type, m.content, m.artifact_type, m.subject_digest
FROM repositories r JOIN tags t ON t.repository_id = r.id JOIN manifests m ON m.id = t.manifest_id
WHERE r.name = ? AND t.name = ?
"""
_MANIFEST_BY_DIGEST = """
SELECT m.digest, m.media_type, m.content, m.artifact_type, m.subject_digest
FROM repositories r JOIN manifests m ON m.repository_id = r.id
WHERE r.name = ? AND m.digest = ?
"""


class _MissingReferencesError(Exception):
    def __init__(self, digests: list[str]) -> None:
        super().__init__(", ".join(digests))
        self.digests = digests


_LINKED_BLOB = """
SELECT b.digest, b.size, b.media_type
FROM repositories r JOIN repository_blobs rb ON rb.repository_id = r.id
JOIN blobs b ON b.id = rb.blob_id
WHERE r.name = ? AND b.digest = ?
"""


class SqliteMetadata:
    """Every metadata operation the services need, each atomic."""

    def __init__(self, database: SqliteDatabase, *, pin_seconds: float = 3600.0) -> None:
        self.db = database
        self.pin_seconds = pin_seconds
        self.uploads = SqliteUploadStore(database)

    # repositories -------------------------------------------------------------------------

    def _repository_id(self, name: str) -> int | None:
        row = self.db.connection.execute(
            "SELECT id FROM repositories WHERE name = ?", (name,)
        ).fetchone()
        return int(row[0]) if row else None

    def _ensure_repository(self, name: str) -> int:
        conn = self.db.connection
        conn.execute(
            "INSERT INTO repositories(name, created_at) VALUES (?, ?) ON CONFLICT(name) DO NOTHING",
            (name, time.time()),
        )
        return int(
            conn.execute("SELECT id FROM repositories WHERE name = ?", (name,)).fetchone()[0]
        )

    async def repository_exists(self, name: str) -> bool:
        return self._repository_id(name) is not None

    async def list_repositories(self, last: str, limit: int) -> list[str]:
        rows = self.db.connection.execute(
            "SELECT name FROM repositories WHERE name > ? ORDER BY name LIMIT ?", (last, limit)
        ).fetchall()
        return [r[0] for r in rows]

    # blobs ----------------------------------------------------------------------------------

    async def linked_blob(self, repository: str, digest: str) -> BlobRecord | None:
        row = self.db.connection.execute(_LINKED_BLOB, (repository, digest)).fetchone()
        return BlobRecord(row[0], row[1], row[2]) if row else None

    async def any_blob(self, digest: str) -> BlobRecord | None:
        row = self.db.connection.execute(
            "SELECT digest, size, media_type FROM blobs WHERE digest = ?", (digest,)
        ).fetchone()
        return BlobRecord(row[0], row[1], row[2]) if row else None

    async def repositories_with_blob(self, digest: str, limit: int = 50) -> list[str]:
        rows = self.db.connection.execute(
            "SELECT r.name FROM blobs b JOIN repository_blobs rb ON rb.blob_id = b.id "
            "JOIN repositories r ON r.id = rb.repository_id WHERE b.digest = ? LIMIT ?",
            (digest, limit),
        ).fetchall()
        return [r[0] for r in rows]

    async def commit_blob(self, repository: str, digest: str, size: int) -> BlobRecord:
        """Record published bytes and link them into ``repository``, in one transaction."""
        now = time.time()
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO blobs(digest, size, committed_at, pinned_until) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(digest) DO UPDATE SET pinned_until = excluded.pinned_until",
                (digest, size, now, now + self.pin_seconds),
            )
            self._link(repository, digest, now)
        return BlobRecord(digest, size)

    async def link_blob(self, repository: str, digest: str) -> BlobRecord | None:
        """Link an existing blob into ``repository`` (a mount); None when it is unknown."""
        now = time.time()
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT size, media_type FROM blobs WHERE digest = ?", (digest,)
            ).fetchone()
            if row is None:
                return None
            conn.execute(
                "UPDATE blobs SET pinned_until = max(pinned_until, ?) WHERE digest = ?",
                (now + self.pin_seconds, digest),
            )
            self._link(repository, digest, now)
        return BlobRecord(digest, row[0], row[1])

    def _link(self, repository: str, digest: str, now: float) -> None:
        repository_id = self._ensure_repository(repository)
        self.db.connection.execute(
            "INSERT INTO repository_blobs(repository_id, blob_id, created_at) "
            "SELECT ?, id, ? FROM blobs WHERE digest = ? ON CONFLICT DO NOTHING",
            (repository_id, now, digest),
        )

    async def unlink_blob(self, repository: str, digest: str) -> bool:
        with self.db.transaction() as conn:
            cursor = conn.execute(
                "DELETE FROM repository_blobs WHERE repository_id = "
                "(SELECT id FROM repositories WHERE name = ?) "
                "AND blob_id = (SELECT id FROM blobs WHERE digest = ?)",
                (repository, digest),
            )
            return cursor.rowcount > 0

    # manifests ------------------------------------------------------------------------------

    async def manifest_by_tag(self, repository: str, tag: str) -> ManifestRecord | None:
        row = self.db.connection.execute(_MANIFEST_BY_TAG, (repository, tag)).fetchone()
        return ManifestRecord(*row) if row else None

    async def manifest_by_digest(self, repository: str, digest: str) -> ManifestRecord | None:
        row = self.db.connection.execute(_MANIFEST_BY_DIGEST, (repository, digest)).fetchone()
        return ManifestRecord(*row) if row else None

    async def put_manifest(self, repository: str, manifest: NewManifest) -> list[str]:
        """Check references and record the manifest and its tags atomically.

        Returns the digests that are missing from ``repository``; when any are, nothing is
        written.
        """
        now = time.time()
        try:
            self._put_manifest(repository, manifest, now)
        except _MissingReferencesError as missing:
            return missing.digests
        return []

    def _put_manifest(self, repository: str, manifest: NewManifest, now: float) -> None:
        with self.db.transaction() as conn:
            repository_id = self._ensure_repository(repository)
            missing = self._missing_references(repository_id, manifest)
            if missing:
                raise _MissingReferencesError(missing)
            manifest_id = self._upsert_manifest(repository_id, manifest, now)
            self._record_references(manifest_id, manifest, now)
            for tag in manifest.tags:
                conn.execute(
                    "INSERT INTO tags(repository_id, name, manifest_id, updated_at) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT(repository_id, name) DO UPDATE SET "
                    "manifest_id = excluded.manifest_id, updated_at = excluded.updated_at",
                    (repository_id, tag, manifest_id, now),
                )

    def _missing_references(self, repository_id: int, manifest: NewManifest) -> list[str]:
        conn = self.db.connection
        missing = []
        for digest in manifest.blob_digests:
            row = conn.execute(
                "SELECT 1 FROM repository_blobs rb JOIN blobs b ON b.id = rb.blob_id "
                "WHERE rb.repository_id = ? AND b.digest = ?",
                (repository_id, digest),
            ).fetchone()
            if row is None:
                missing.append(digest)
        for digest in manifest.child_digests:
            row = conn.execute(
                "SELECT 1 FROM manifests WHERE repository_id = ? AND digest = ?",
                (repository_id, digest),
            ).fetchone()
            if row is None:
                missing.append(digest)
        return missing

    def _upsert_manifest(self, repository_id: int, manifest: NewManifest, now: float) -> int:
        conn = self.db.connection
        row = conn.execute(
            "SELECT id FROM manifests WHERE repository_id = ? AND digest = ?",
            (repository_id, manifest.digest),
        ).fetchone()
        if row is not None:
            return int(row[0])
        cursor = conn.execute(
            "INSERT INTO manifests(repository_id, digest, media_type, artifact_type, content, "
            "size, subject_digest, annotations, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
        return int(cursor.lastrowid or 0)

    def _record_references(self, manifest_id: int, manifest: NewManifest, now: float) -> None:
        conn = self.db.connection
        rows = [(manifest_id, d, "blob") for d in manifest.blob_digests]
        rows += [(manifest_id, d, "manifest") for d in manifest.child_digests]
        conn.executemany(
            "INSERT INTO manifest_refs(manifest_id, digest, kind) VALUES (?, ?, ?) "
            "ON CONFLICT DO NOTHING",
            rows,
        )
        if manifest.blob_digests:
            conn.executemany(
                "UPDATE blobs SET pinned_until = max(pinned_until, ?) WHERE digest = ?",
                [(now + self.pin_seconds, d) for d in manifest.blob_digests],
            )

    async def delete_manifest(self, repository: str, digest: str) -> bool:
        """Delete a manifest by digest with its tags and references."""
        with self.db.transaction() as conn:
            cursor = conn.execute(
                "DELETE FROM manifests WHERE digest = ? AND repository_id = "
                "(SELECT id FROM repositories WHERE name = ?)",
                (digest, repository),
            )
            return cursor.rowcount > 0

    async def referrers(
        self, repository: str, subject: str, artifact_type: str | None
    ) -> list[ReferrerRecord]:
        sql = (
            "SELECT m.digest, m.media_type, m.size, m.artifact_type, m.annotations "
            "FROM repositories r JOIN manifests m ON m.repository_id = r.id "
            "WHERE r.name = ? AND m.subject_digest = ?"
        )
        params: tuple[str, ...] = (repository, subject)
        if artifact_type is not None:
            sql += " AND m.artifact_type = ?"
            params += (artifact_type,)
        rows = self.db.connection.execute(sql + " ORDER BY m.id", params).fetchall()
        return [ReferrerRecord(*row) for row in rows]

    # tags -----------------------------------------------------------------------------------

    async def list_tags(self, repository: str, last: str, limit: int) -> list[str] | None:
        """Tags after ``last`` in lexical order; None when the repository is unknown."""
        repository_id = self._repository_id(repository)
        if repository_id is None:
            return None
        rows = self.db.connection.execute(
            "SELECT name FROM tags WHERE repository_id = ? AND name > ? ORDER BY name LIMIT ?",
            (repository_id, last, limit),
        ).fetchall()
        return [r[0] for r in rows]

    async def delete_tag(self, repository: str, tag: str) -> bool:
        with self.db.transaction() as conn:
            cursor = conn.execute(
                "DELETE FROM tags WHERE name = ? AND repository_id = "
                "(SELECT id FROM repositories WHERE name = ?)",
                (tag, repository),
            )
            return cursor.rowcount > 0

    async def get_upload(self, upload_id: str) -> UploadRecord | None:
        return await self.uploads.get(upload_id)
