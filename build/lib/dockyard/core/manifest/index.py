"""OCI image indexes and Docker manifest lists (the same shape)."""

from __future__ import annotations

import msgspec

from dockyard.core.descriptors import Descriptor
from dockyard.core.manifest.common import check_descriptor, check_schema_version, decode
from dockyard.core.manifest.model import ParsedManifest


class ImageIndex(msgspec.Struct, frozen=True):
    schemaVersion: int  # noqa: N815 - the wire name
    manifests: list[Descriptor]
    mediaType: str | None = None  # noqa: N815 - the wire name
    artifactType: str | None = None  # noqa: N815 - the wire name
    subject: Descriptor | None = None
    annotations: dict[str, str] | None = None


def parse_index(body: bytes, media_type: str) -> ParsedManifest:
    """Parse an index; its entries are child manifests."""
    index = decode(body, ImageIndex)
    check_schema_version(index.schemaVersion)
    children = [check_descriptor(d, f"manifests[{i}]") for i, d in enumerate(index.manifests)]
    subject = check_descriptor(index.subject, "subject") if index.subject else None
    return ParsedManifest(
        media_type=media_type,
        children=tuple(children),
        subject=subject,
        artifact_type=index.artifactType,
        annotations=dict(index.annotations or {}),
    )
