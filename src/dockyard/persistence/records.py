"""Plain records the stores return."""

from __future__ import annotations

from dataclasses import dataclass, field

from dockyard.core.events import EventReference


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
    # (digest, size) the manifest declares: a reference held with another size is refused
    # (ReferenceSizeError); digests not listed here are not size-checked (imports)
    declared_sizes: tuple[tuple[str, int], ...] = ()
    # of ``child_digests``: children that need not be in the repository (a sparse index)
    optional_children: frozenset[str] = frozenset()
    # a pull-through cache records a manifest before any of its blobs or children arrive
    references_optional: bool = False
    # what the manifest references, in its own order (config, layers; or an index's manifests)
    references: tuple[EventReference, ...] = ()

    def check_sizes(self, stored: dict[str, int]) -> None:
        """Raise ReferenceSizeError for references ``stored`` (digest -> size) holds with
        another size than declared."""
        mismatches = [
            SizeMismatch(digest, declared, stored[digest])
            for digest, declared in self.declared_sizes
            if digest in stored and stored[digest] != declared
        ]
        if mismatches:
            raise ReferenceSizeError(mismatches)


@dataclass(frozen=True, slots=True)
class SizeMismatch:
    digest: str
    declared: int
    stored: int


class ReferenceSizeError(Exception):
    """A manifest declares a size for a blob or child manifest other than the stored one."""

    def __init__(self, mismatches: list[SizeMismatch]) -> None:
        super().__init__(", ".join(m.digest for m in mismatches))
        self.mismatches = mismatches


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


@dataclass(frozen=True, slots=True)
class TagDetail:
    """A tag with its manifest, for listings that show sizes and platforms (the web UI)."""

    tag: str
    digest: str
    media_type: str
    artifact_type: str | None
    content: bytes
    tagged_at: float  # when the tag last moved
    pushed_at: float  # when the manifest was first pushed to the repository
    pulled_at: float | None


@dataclass(frozen=True, slots=True)
class UiSessionRecord:
    """A web UI session as stored: found by the SHA-256 of its id, never by the id itself."""

    id_hash: str
    subject: str
    via: str
    csrf: str
    started_at: float
    last_seen: float
    expires_at: float
