"""Content descriptors as found in manifests and indexes."""

from __future__ import annotations

import msgspec


class Descriptor(msgspec.Struct, frozen=True, omit_defaults=True):
    """An OCI content descriptor. Unknown fields are ignored; known ones are type-checked."""

    mediaType: str  # noqa: N815 - the wire name
    digest: str
    size: int
    urls: list[str] | None = None
    annotations: dict[str, str] | None = None
    artifactType: str | None = None  # noqa: N815 - the wire name
    platform: dict[str, object] | None = None
