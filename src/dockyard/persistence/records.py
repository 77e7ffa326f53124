"""Plain records the stores return."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class BlobRecord:
    digest: str
    size: int
    media_type: str | None = None


@dataclass(frozen=True, slots=True)
class ManifestRecord:
    digest: str
    media_type: str
    content: bytes
    artifact_type: str | None = None
    subject: str | None = None


@dataclass(frozen=True, slots=True)
class NewManifest:
    """A manifest to record, with everything it references."""

    digest: str
    media_type: str
    content: bytes
    artifact_type: str | None
    subject: str | None
    annotations_json: bytes | None
    blob_digests: tuple[str, ...] = ()
    child_digests: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    frozen_tags: tuple[str, ...] = ()  # of ``tags``: immutable, may be created but not moved


@dataclass(frozen=True, slots=True)
class ReferrerRecord:
    digest: str
    media_type: str
    size: int
    artifact_type: str | None
    annotations_json: bytes | None


@dataclass(frozen=True, slots=True)
class UploadRecord:
    id: str
    repository: str
    principal: str
    offset: int
    started_at: float
    last_activity: float
    client: str = ""  # whose session counts against dockyard.uploads.sessionsperclient
    attributes: dict[str, str] = field(default_factory=dict)
