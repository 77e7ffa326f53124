"""What the events written with a change report about it, read inside that change's
transaction (``sql/metadata.py``, ``sql/inventory.py``)."""

from __future__ import annotations

from dockyard.core.events import EventTarget
from dockyard.persistence.records import NewManifest
from dockyard.persistence.sql.session import Session


def pushed(manifest: NewManifest, moved: dict[str, str] | None = None) -> EventTarget:
    """A ``manifest.pushed`` event's target: the manifest, every tag the push set, the tags
    it moved with the digest each pointed to before (``previous``), and an index's children
    (listed here, not pushed as events of their own)."""
    return EventTarget(
        manifest.digest,
        manifest.media_type,
        len(manifest.content),
        tags=manifest.tags,
        children=manifest.child_digests,
        previous=moved or {},
        references=manifest.references,
    )


async def deleted_manifest(
    session: Session, manifest_id: int, digest: str, media_type: str, size: int
) -> EventTarget:
    """A ``manifest.deleted`` event's target, read before the delete: the tags it carries."""
    rows = await session.fetchall("SELECT name FROM tags WHERE manifest_id = ?", (manifest_id,))
    tags = tuple(sorted(str(r[0]) for r in rows))
    return EventTarget(digest, media_type, int(size), tags=tags)
