"""OCI image manifests and Docker schema 2 manifests (the same shape)."""

from __future__ import annotations

import msgspec

from dockyard.core.descriptors import Descriptor
from dockyard.core.manifest.common import check_descriptor, check_schema_version, decode
from dockyard.core.manifest.model import ParsedManifest


class ImageManifest(msgspec.Struct, frozen=True):
    schemaVersion: int  # noqa: N815 - the wire name
    config: Descriptor
    layers: list[Descriptor] = []
    mediaType: str | None = None  # noqa: N815 - the wire name
    artifactType: str | None = None  # noqa: N815 - the wire name
    subject: Descriptor | None = None
    annotations: dict[str, str] | None = None


def parse_image_manifest(body: bytes, media_type: str) -> ParsedManifest:
    """Parse an image manifest; its config and layers are blob references."""
    manifest = decode(body, ImageManifest)
    check_schema_version(manifest.schemaVersion)
    blobs = [check_descriptor(manifest.config, "config")]
    blobs += [check_descriptor(layer, f"layers[{i}]") for i, layer in enumerate(manifest.layers)]
    subject = check_descriptor(manifest.subject, "subject") if manifest.subject else None
    return ParsedManifest(
        media_type=media_type,
        blobs=tuple(blobs),
        subject=subject,
        artifact_type=manifest.artifactType,
        annotations=dict(manifest.annotations or {}),
        config_media_type=manifest.config.mediaType,
    )
