"""Storage used per project (a repository name's first component), counted once per blob.

A project's blobs are those its manifests reference, plus those linked into its repositories
recently (a push in progress: layers arrive before the manifest). Each counts once however
many of the project's repositories share it; a blob shared with another project counts in
both. Repository names are compared in byte order (``name > 'p/' AND name < 'p0'``: ``0``
follows ``/``), which the ``repositories.name`` index serves on both backends.
"""

from __future__ import annotations

from dockyard.persistence.lifecycle_records import UsageDetail
from dockyard.persistence.sql.session import Database

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
_COUNTED = f"SELECT 1 FROM blobs b WHERE b.digest = ? AND b.digest IN ({_PROJECT_BLOBS})"  # noqa: S608


def _scope(project: str) -> tuple[str, str, str]:
    return project, project + "/", project + "0"


class SqlUsage:
    def __init__(self, database: Database) -> None:
        self.db = database

    async def stored_bytes(self, project: str, recent_after: float) -> int:
        """Bytes the project stores: its blobs (each once) and its manifests."""
        blobs = await self.db.fetchone(_BLOB_BYTES, self._blob_params(project, recent_after))
        manifests = await self.db.fetchone(_MANIFEST_BYTES, _scope(project))
        return int(blobs[0] if blobs else 0) + int(manifests[0] if manifests else 0)

    async def in_flight_bytes(self, project: str, exclude_upload: str = "") -> int:
        """Bytes of upload sessions in progress in the project (other than ``exclude``)."""
        prefix = project + "/"
        params = (project, len(prefix), prefix, exclude_upload)
        row = await self.db.fetchone(_IN_FLIGHT, params)
        return int(row[0]) if row else 0

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
