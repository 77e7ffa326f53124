"""Read-only queries behind ``dockyard gc --dry-run --delete-untagged``.

A real run deletes untagged manifests round after round (deleting an index frees its
children, deleting a subject frees its referrers), then sweeps the blobs nothing references
any more. A dry run must not delete anything, so it reads the manifests that could ever go
(untagged, older than the grace period) with what keeps each one, lets the service play the
rounds, and asks which blobs only such manifests reference. The same conditions as
``sql/gc.py``'s, so both runs agree.
"""

from __future__ import annotations

from dockyard.persistence.lifecycle_records import UntaggedGraph
from dockyard.persistence.sql.session import Database

_CANDIDATE = "{m}.created_at < ? AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.manifest_id = {m}.id)"
_CANDIDATES = (
    "SELECT m.id, r.name, m.digest FROM manifests m "  # noqa: S608
    f"JOIN repositories r ON r.id = m.repository_id WHERE {_CANDIDATE.format(m='m')}"
)
_PARENTS = (
    "SELECT m.id, p.id FROM manifests m "  # noqa: S608
    "JOIN manifest_refs x ON x.kind = 'manifest' AND x.digest = m.digest "
    "JOIN manifests p ON p.id = x.manifest_id AND p.repository_id = m.repository_id "
    f"WHERE {_CANDIDATE.format(m='m')}"
)
_SUBJECTS = (
    "SELECT m.id, s.id FROM manifests m "  # noqa: S608
    "JOIN manifests s ON s.repository_id = m.repository_id AND s.digest = m.subject_digest "
    f"WHERE {_CANDIDATE.format(m='m')}"
)
# Blobs a sweep could take once the manifests referencing them are gone: every manifest that
# references one is a candidate (or none does). One row per (blob, referencing manifest).
_FREEABLE_BLOBS = (
    "SELECT b.digest, b.size, x.manifest_id FROM blobs b "  # noqa: S608
    "LEFT JOIN manifest_refs x ON x.digest = b.digest AND x.kind = 'blob' "
    "WHERE b.state <> 'deleting' AND b.pinned_until < ? AND b.committed_at < ? "
    "AND (b.state = 'ready' OR b.pinned_until < ?) "
    "AND NOT EXISTS (SELECT 1 FROM manifest_refs y JOIN manifests k ON k.id = y.manifest_id "
    f"WHERE y.digest = b.digest AND y.kind = 'blob' AND NOT ({_CANDIDATE.format(m='k')})) "
    "ORDER BY b.id"
)


class GarbagePreviewQueries:
    """Mixed into ``SqlGarbageStore``."""

    db: Database

    async def untagged_graph(self, created_before: float) -> UntaggedGraph:
        """The manifests a ``--delete-untagged`` run may delete, and what holds each."""
        rows = await self.db.fetchall(_CANDIDATES, (created_before,))
        parents = await self.db.fetchall(_PARENTS, (created_before,))
        subjects = await self.db.fetchall(_SUBJECTS, (created_before,))
        return UntaggedGraph(
            candidates={int(r[0]): (str(r[1]), str(r[2])) for r in rows},
            parents=[(int(r[0]), int(r[1])) for r in parents],
            subjects=[(int(r[0]), int(r[1])) for r in subjects],
        )

    async def freeable_blobs(
        self, pinned_before: float, committed_before: float, created_before: float
    ) -> list[tuple[str, int, int | None]]:
        """(digest, size, referencing manifest id or None) of the blobs a sweep takes once
        the candidate manifests that reference them are deleted (None: nothing does now)."""
        rows = await self.db.fetchall(
            _FREEABLE_BLOBS, (pinned_before, committed_before, committed_before, created_before)
        )
        return [(str(r[0]), int(r[1]), None if r[2] is None else int(r[2])) for r in rows]
