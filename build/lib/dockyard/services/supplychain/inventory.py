"""An image's inventory: the manifest's layers, each indexed once, applied in order; an index
gets one inventory per platform (attestation entries and artifacts are skipped)."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from dockyard.core import mediatypes as mt
from dockyard.core.digest import is_valid_digest
from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.core.reference import is_valid_tag
from dockyard.core.supplychain.image import apply_layers
from dockyard.core.supplychain.model import Package
from dockyard.persistence.records import ManifestRecord
from dockyard.persistence.stores import MetadataStore
from dockyard.services.supplychain.indexer import LayerIndexer, layer_of
from dockyard.services.supplychain.store import StoredLayer

MAX_PLATFORMS = 64


class _Entry(msgspec.Struct, frozen=True):
    mediaType: str = ""  # noqa: N815 - the wire name
    digest: str = ""
    size: int = 0
    platform: dict[str, object] | None = None


class _Document(msgspec.Struct, frozen=True):
    mediaType: str = ""  # noqa: N815 - the wire name
    artifactType: str | None = None  # noqa: N815 - the wire name
    config: _Entry | None = None
    layers: list[_Entry] = []
    manifests: list[_Entry] = []
    subject: _Entry | None = None


@dataclass(frozen=True, slots=True)
class LayerState:
    digest: str
    outcome: str  # indexed | refused | missing (the blob is not in storage)
    detail: str


@dataclass(frozen=True, slots=True)
class ImageInventory:
    """The packages of one image manifest (one platform of an index)."""

    digest: str  # the image manifest's digest
    media_type: str
    size: int
    platform: str  # os/architecture[/variant], "" for a single image
    packages: tuple[Package, ...]
    layers: tuple[LayerState, ...]


def _is_missing(error: RegistryError) -> bool:
    return error.code is ErrorCode.BLOB_UNKNOWN


def platform_name(platform: dict[str, object] | None) -> str:
    if not platform:
        return ""
    parts = [str(platform.get("os", "")), str(platform.get("architecture", ""))]
    if platform.get("variant"):
        parts.append(str(platform["variant"]))
    return "/".join(parts)


def _decode(record: ManifestRecord) -> _Document:
    try:
        return msgspec.json.decode(record.content, type=_Document)
    except msgspec.DecodeError:
        raise RegistryError(ErrorCode.MANIFEST_INVALID, "manifest unreadable") from None


def is_image(record: ManifestRecord, doc: _Document) -> bool:
    """A runnable image: an image manifest that refers to nothing and is no artifact."""
    if record.media_type not in mt.IMAGE_MANIFESTS or doc.subject is not None:
        return False
    config_type = doc.config.mediaType if doc.config is not None else ""
    return doc.artifactType is None and config_type != mt.OCI_EMPTY_CONFIG


def _is_layer(entry: _Entry) -> bool:
    return ".tar" in entry.mediaType or entry.mediaType.endswith(".tar")


class InventoryBuilder:
    def __init__(self, metadata: MetadataStore, indexer: LayerIndexer) -> None:
        self.metadata, self.indexer = metadata, indexer

    async def images(self, repository: str, record: ManifestRecord) -> list[ImageInventory]:
        """One inventory for an image, one per platform for an index (its entries that are
        not images are skipped); BAD_REQUEST for anything else (an artifact)."""
        document = _decode(record)
        if record.media_type not in mt.INDEXES:
            if not is_image(record, document):
                raise RegistryError(
                    ErrorCode.BAD_REQUEST,
                    "not an image: artifacts have no package inventory",
                    detail={"digest": record.digest},
                )
            return [await self._image(record, document, "")]
        found = []
        for child in document.manifests[:MAX_PLATFORMS]:
            name = platform_name(child.platform)
            if child.mediaType not in mt.IMAGE_MANIFESTS or name.startswith("unknown"):
                continue
            stored = await self.metadata.manifest_by_digest(repository, child.digest)
            if stored is not None and is_image(stored, child_doc := _decode(stored)):
                found.append(await self._image(stored, child_doc, name))
        return found

    async def manifest(self, repository: str, reference: str) -> ManifestRecord:
        """The manifest a tag or digest names, read without counting as a pull (an SBOM job
        must not keep an image alive for retention's "not pulled for")."""
        by_digest = ":" in reference
        valid = is_valid_digest(reference) if by_digest else is_valid_tag(reference)
        record = None
        if by_digest and valid:
            record = await self.metadata.manifest_by_digest(repository, reference)
        elif valid:
            record = await self.metadata.manifest_by_tag(repository, reference)
        if record is None:
            raise RegistryError(ErrorCode.MANIFEST_UNKNOWN, detail={"reference": reference[:200]})
        return record

    async def has_images(self, repository: str, record: ManifestRecord) -> bool:
        """Whether ``record`` is an image, or an index with at least one image in it."""
        document = _decode(record)
        if record.media_type not in mt.INDEXES:
            return is_image(record, document)
        for child in document.manifests[:MAX_PLATFORMS]:
            stored = await self.metadata.manifest_by_digest(repository, child.digest)
            if stored is not None and is_image(stored, _decode(stored)):
                return True
        return False

    async def _layer(self, digest: str) -> StoredLayer | None:
        """The layer's inventory; None when its bytes are not in storage (nothing stored)."""
        try:
            return await self.indexer.inventory(digest)
        except RegistryError as error:
            if _is_missing(error):
                return None
            raise

    async def _image(self, record: ManifestRecord, doc: _Document, name: str) -> ImageInventory:
        states, layers = [], []
        for entry in (e for e in doc.layers if _is_layer(e)):
            stored = await self._layer(entry.digest)
            if stored is None:  # foreign / non-distributable, or removed by hand
                states.append(LayerState(entry.digest, "missing", "layer blob not stored here"))
                continue
            states.append(LayerState(entry.digest, stored.outcome, stored.detail))
            layers.append(layer_of(stored))
        packages = tuple(apply_layers(layers))
        size = len(record.content)
        return ImageInventory(record.digest, record.media_type, size, name, packages, tuple(states))
