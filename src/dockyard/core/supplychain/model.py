"""Packages found in a layer, what the layer removes, and the inventory document stored per
layer digest (``layer_inventories``)."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

# Bump when the indexer finds more or other things: stored inventories of an older version
# are indexed again on the next request. 2: the source package of dpkg and apk packages.
INDEXER_VERSION = 2


class Package(msgspec.Struct, frozen=True, kw_only=True):
    """One installed package: ``path`` is the file it was read from inside the layer."""

    ecosystem: str  # deb, apk, rpm, pypi, npm, golang
    name: str
    version: str
    purl: str
    path: str
    layer: str = ""  # the layer digest, set when an image's inventory is assembled
    # the source package an OS package was built from (dpkg ``Source:``, apk ``o:``) when it
    # differs from ``name``: distributions' advisories name source packages
    source: str = ""


class LayerInventory(msgspec.Struct, frozen=True, kw_only=True):
    """What one layer installs (``packages``) and which lower paths it removes or replaces.

    ``sources``: every package database file the layer writes (even an empty one): it
    replaces what lower layers had at that path. ``whiteouts``: paths the layer deletes
    (``.wh.NAME``); ``opaque``: directories whose lower content it hides (``.wh..wh..opq``).
    """

    digest: str
    indexer_version: int = INDEXER_VERSION
    packages: tuple[Package, ...] = ()
    sources: tuple[str, ...] = ()
    whiteouts: tuple[str, ...] = ()
    opaque: tuple[str, ...] = ()


class LayerRefusedError(Exception):
    """The layer cannot be indexed (hostile, corrupt, or in a format not supported)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class IndexLimits:
    """Bounds that keep a hostile layer from exhausting memory or time."""

    max_entries: int = 500_000
    max_path_length: int = 4096
    max_path_depth: int = 128
    max_metadata_bytes: int = 64 * 1024 * 1024  # one database or manifest file read whole
    max_binary_bytes: int = 512 * 1024 * 1024  # an executable scanned for Go build info
    max_total_bytes: int = 32 * 1024 * 1024 * 1024  # all uncompressed bytes of the layer
    max_packages: int = 200_000


def encode_inventory(inventory: LayerInventory) -> bytes:
    return msgspec.json.encode(inventory)


def decode_inventory(raw: bytes | str) -> LayerInventory:
    return msgspec.json.decode(raw, type=LayerInventory)
