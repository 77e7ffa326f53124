"""Storage used per project (a repository name's first component), counted once per blob.

A project's blobs are those its manifests reference, plus those linked into its repositories
recently (a push in progress: layers arrive before the manifest). Each counts once however
many of the project's repositories share it; a blob shared with another project counts in
both. Repository names are compared in byte order (``name > 'p/' AND name < 'p0'``: ``0``
follows ``/``), which the ``repositories.name`` index serves on both backends.
"""

from __future__ import annotations

import time

from dockyard.persistence.lifecycle_records import QuotaHold, UsageDetail
from dockyard.persistence.sql.session import Database, Session

_IN_PROJECT = "(r.name = ? OR (r.name > ? AND r.name < ?))"
_PROJECT_BLOBS = f"""
SELECT mr.digest FROM manifest_refs mr JOIN manifests m ON m.id = mr.manifest_id
JOIN repositories r ON r.id = m.repository_id
WHERE mr.kind = 'blob' AND {_IN_PROJECT}
UNION
SELECT b2.digest FROM repository_blobs rb JOIN blobs b2 ON b2.id = rb.blob_id
JOIN repositories r ON r.id = rb.repository_id
WHERE rb.created_at > ? AND {_IN_PROJECT}
"""  # noqa: S608 - constant text
_OUTSIDE = """
NOT EXISTS (SELECT 1 FROM manifest_refs mr JOIN manifests m ON m.id = mr.manifest_id
    JOIN repositories r ON r.id = m.repository_id
    WHERE mr.kind = 'blob' AND mr.digest = b.digest AND NOT (r.name = ? OR (r.name > ? AND r.name < ?)))
AND NOT EXISTS (SELECT 1 FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id
    WHERE rb.blob_id = b.id AND NOT (r.name = ? OR (r.name > ? AND r.name < ?)))
"""  # noqa: E501
_BLOB_BYTES = (
    "SELECT COALESCE(SUM(b.size), 0), COUNT(*) FROM blobs b "  # noqa: S608 - constant text
    f"WHERE b.state <> 'deleting' AND b.digest IN ({_PROJECT_BLOBS})"
)
_UNIQUE_BYTES = f"{_BLOB_BYTES} AND {_OUTSIDE}"
_MANIFEST_BYTES = (
    "SELECT COALESCE(SUM(m.size), 0) FROM manifests m "  # noqa: S608 - constant text
    f"JOIN repositories r ON r.id = m.repository_id WHERE {_IN_PROJECT}"
)
_UNREFERENCED = f"""
SELECT COALESCE(SUM(b.size), 0) FROM blobs b WHERE b.state <> 'deleting'
AND b.id IN (SELECT rb.blob_id FROM repository_blobs rb JOIN repositories r
    ON r.id = rb.repository_id WHERE {_IN_PROJECT})
AND NOT EXISTS (SELECT 1 FROM manifest_refs mr WHERE mr.digest = b.digest AND mr.kind = 'blob')
"""  # noqa: S608 - constant text
_IN_FLIGHT = (
    "SELECT COALESCE(SUM(committed_offset), 0) FROM uploads "
    "WHERE (repository = ? OR substr(repository, 1, ?) = ?) AND id <> ?"
)
# A hold on a session counts only what its session's offset does not yet: once the request
# records the bytes (the offset moves past ``base``), they are not counted twice.
_HELD = """
SELECT COALESCE(SUM(CASE WHEN q.base + q.bytes > COALESCE(u.committed_offset, 0)
    THEN q.base + q.bytes - COALESCE(u.committed_offset, 0) ELSE 0 END), 0)
FROM quota_reservations q LEFT JOIN uploads u ON u.id = q.upload_id
WHERE q.project = ? AND q.expires_at >= ? AND q.id <> ?
"""
_HOLD = """
INSERT INTO quota_reservations(id, project, upload_id, base, bytes, expires_at)
VALUES (?, ?, ?, COALESCE((SELECT committed_offset FROM uploads WHERE id = ?), 0), ?, ?)
ON CONFLICT(id) DO UPDATE
SET base = excluded.base, bytes = excluded.bytes, expires_at = excluded.expires_at
"""
_COUNTED = f"SELECT 1 FROM blobs b WHERE b.digest = ? AND b.digest IN ({_PROJECT_BLOBS})"  # noqa: S608


def _scope(project: str) -> tuple[str, str, str]:
    return project, project + "/", project + "0"


class SqlUsage:
    def __init__(self, database: Database) -> None:
        self.db = database

    async def stored_bytes(self, project: str, recent_after: float) -> int:
        """Bytes the project stores: its blobs (each once) and its manifests."""
        return await self._stored(self.db, project, recent_after)

    async def _stored(self, session: Session, project: str, recent_after: float) -> int:
        blobs = await session.fetchone(_BLOB_BYTES, self._blob_params(project, recent_after))
        manifests = await session.fetchone(_MANIFEST_BYTES, _scope(project))
        return int(blobs[0] if blobs else 0) + int(manifests[0] if manifests else 0)

    async def in_flight_bytes(self, project: str, exclude_upload: str = "") -> int:
        """Bytes of upload sessions in progress in the project (other than ``exclude``),
        plus the bytes requests streaming into it hold (``reserve``)."""
        return await self._in_flight(self.db, project, exclude_upload, "")

    async def _in_flight(
        self, session: Session, project: str, exclude_upload: str, exclude_hold: str
    ) -> int:
        prefix = project + "/"
        stored = await session.fetchone(_IN_FLIGHT, (project, len(prefix), prefix, exclude_upload))
        held = await session.fetchone(_HELD, (project, time.time(), exclude_hold))
        return sum(int(row[0]) for row in (stored, held) if row)

    async def reserve(self, hold: QuotaHold, wanted: int, needed: int) -> tuple[int, int]:
        """Hold up to ``wanted`` bytes (at least ``needed``) for ``hold``, atomically against
        every other holder: what the project stores, its sessions' bytes and the other holds
        must leave room. Returns (bytes now held, bytes used without this hold); when even
        ``needed`` does not fit, nothing changes and the first value is -1.
        """

        async def work(session: Session) -> tuple[int, int]:
            now = time.time()
            await session.execute("DELETE FROM quota_reservations WHERE expires_at < ?", (now,))
            used = await self._stored(session, hold.project, hold.recent_after)
            used += await self._in_flight(session, hold.project, "", hold.id)
            granted = min(wanted, hold.limit - used)
            if granted < needed:
                return -1, used
            row = (hold.id, hold.project, hold.upload_id, hold.upload_id, granted, hold.expires_at)
            await session.execute(_HOLD, row)
            return granted, used

        return await self.db.transaction(work)

    async def renew(self, hold_id: str, expires_at: float) -> bool:
        """Keep a hold alive; False when it lapsed (and may be gone)."""
        changed = await self.db.execute(
            "UPDATE quota_reservations SET expires_at = ? WHERE id = ? AND expires_at >= ?",
            (expires_at, hold_id, time.time()),
        )
        return changed > 0

    async def release(self, hold_id: str = "", upload_id: str = "") -> None:
        """Drop one hold, or every hold on an upload session (cancelled, purged)."""
        await self.db.execute(
            "DELETE FROM quota_reservations WHERE id = ? OR upload_id = ?",
            (hold_id, upload_id or "-"),
        )

    async def counts_blob(self, project: str, digest: str, recent_after: float) -> bool:
        """Whether ``digest`` already counts for the project (so linking it costs nothing)."""
        params = (digest, *self._blob_params(project, recent_after))
        return await self.db.fetchone(_COUNTED, params) is not None

    async def usage_detail(self, project: str, recent_after: float) -> UsageDetail:
        """Stored bytes split into unique and shared, and what garbage collection would free."""
        scope, blob_params = _scope(project), self._blob_params(project, recent_after)
        blobs = await self.db.fetchone(_BLOB_BYTES, blob_params)
        unique = await self.db.fetchone(_UNIQUE_BYTES, (*blob_params, *scope, *scope))
        manifests = await self.db.fetchone(_MANIFEST_BYTES, scope)
        loose = await self.db.fetchone(_UNREFERENCED, scope)
        return UsageDetail(
            project=project,
            blob_bytes=int(blobs[0]) if blobs else 0,
            blobs=int(blobs[1]) if blobs else 0,
            unique_bytes=int(unique[0]) if unique else 0,
            manifest_bytes=int(manifests[0]) if manifests else 0,
            unreferenced_bytes=int(loose[0]) if loose else 0,
        )

    async def projects(self) -> list[str]:
        """Every project that has a repository, in byte order."""
        rows = await self.db.fetchall("SELECT name FROM repositories ORDER BY name")
        return sorted({str(r[0]).split("/", 1)[0] for r in rows})

    @staticmethod
    def _blob_params(project: str, recent_after: float) -> tuple[object, ...]:
        return (*_scope(project), recent_after, *_scope(project))
