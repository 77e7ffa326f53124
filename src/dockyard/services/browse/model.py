"""The records browsing returns (plain data, rendered by the UI and encoded by the API)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Layer:
    digest: str
    size: int
    media_type: str


@dataclass(frozen=True, slots=True)
class Platform:
    """One manifest of an index: its platform (``linux/arm64/v8``) and digest."""

    platform: str
    digest: str
    size: int  # of the child manifest and what it references, when the child is here
    media_type: str


@dataclass(frozen=True, slots=True)
class TagSummary:
    tag: str
    digest: str
    media_type: str
    artifact_type: str | None
    size: int  # the manifest with its config and layers (an index: with its children's)
    platforms: list[str]
    tagged_at: float
    pushed_at: float
    pulled_at: float | None


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    created: str
    created_by: str
    empty_layer: bool
    comment: str


@dataclass(frozen=True, slots=True)
class ImageConfig:
    """The parts of an image configuration people look for."""

    os: str = ""
    architecture: str = ""
    created: str = ""
    user: str = ""
    working_dir: str = ""
    env: list[str] = field(default_factory=list)
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    exposed_ports: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    history: list[HistoryEntry] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Referrer:
    digest: str
    media_type: str
    artifact_type: str
    size: int
    kind: str  # signature, sbom, attestation, scan report or artifact
    annotations: dict[str, str]


@dataclass(frozen=True, slots=True)
class ArtifactDetail:
    repository: str
    digest: str
    media_type: str
    artifact_type: str | None
    manifest_size: int
    size: int
    tags: list[str]
    pushed_at: float | None
    pulled_at: float | None
    annotations: dict[str, str]
    subject: str | None
    layers: list[Layer]
    platforms: list[Platform]
    config: ImageConfig | None
    config_note: str  # why no configuration is shown, when it is not
    referrers: list[Referrer]
