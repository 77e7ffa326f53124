"""The parsed form of a manifest shared by every format."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from dockyard.core.descriptors import Descriptor


@dataclass(frozen=True, slots=True)
class ParsedManifest:
    """What the registry needs from a manifest: its references, subject and artifact type."""

    media_type: str
    blobs: tuple[Descriptor, ...] = ()
    children: tuple[Descriptor, ...] = ()
    subject: Descriptor | None = None
    artifact_type: str | None = None
    annotations: dict[str, str] = field(default_factory=dict)
    config_media_type: str | None = None

    @property
    def effective_artifact_type(self) -> str | None:
        """The type the referrers API reports: artifactType, else the config media type."""
        return self.artifact_type or self.config_media_type

    def named_references(self) -> Iterator[tuple[str, Descriptor]]:
        """Every blob and child descriptor with where it sits: ``config``, ``layers[0]``,
        ``manifests[1]`` (an image lists its config first, then its layers)."""
        for n, blob in enumerate(self.blobs):
            yield ("config" if n == 0 else f"layers[{n - 1}]"), blob
        for n, child in enumerate(self.children):
            yield f"manifests[{n}]", child
