"""What the workloads push: big random blob files (streamed, never held in memory), small
OCI images, and an OCI layout directory for skopeo."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

CHUNK = 1 << 20
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MANIFEST_ACCEPT = ", ".join((OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST))


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class BlobFile:
    """A file of random bytes and its digest. ``refresh`` makes it new content cheaply."""

    path: Path
    size: int
    digest: str = ""

    @classmethod
    def create(cls, path: Path, size: int) -> BlobFile:
        hasher = hashlib.sha256()
        with open(path, "wb") as handle:
            remaining = size
            while remaining:
                chunk = os.urandom(min(CHUNK, remaining))
                handle.write(chunk)
                hasher.update(chunk)
                remaining -= len(chunk)
        return cls(path, size, "sha256:" + hasher.hexdigest())

    def refresh(self) -> None:
        """New random first bytes, then re-hash: a blob neither registry has seen."""
        with open(self.path, "r+b") as handle:
            handle.write(os.urandom(min(64, self.size)))
        hasher = hashlib.sha256()
        with open(self.path, "rb") as handle:
            while chunk := handle.read(CHUNK):
                hasher.update(chunk)
        self.digest = "sha256:" + hasher.hexdigest()


@dataclass(frozen=True)
class Image:
    """A small OCI image held in memory: config, layers, manifest."""

    config: bytes
    layers: tuple[bytes, ...]
    manifest: bytes

    @property
    def digest(self) -> str:
        return sha256(self.manifest)

    @property
    def blobs(self) -> tuple[bytes, ...]:
        return (self.config, *self.layers)


def descriptor(data: bytes, media_type: str) -> dict[str, object]:
    return {"mediaType": media_type, "digest": sha256(data), "size": len(data)}


def small_image(layers: int, layer_size: int) -> Image:
    blobs = tuple(os.urandom(layer_size) for _ in range(layers))
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "nonce": os.urandom(8).hex(),
            "rootfs": {"type": "layers", "diff_ids": [sha256(b) for b in blobs]},
        }
    ).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(config, OCI_CONFIG),
        "layers": [descriptor(b, OCI_LAYER) for b in blobs],
    }
    return Image(config, blobs, json.dumps(manifest, indent=2).encode())


def tiny_image() -> Image:
    """The smallest image a repository can hold: a config blob and no layers."""
    config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(config, OCI_CONFIG),
        "layers": [],
    }
    return Image(config, (), json.dumps(manifest).encode())


# OCI layout for skopeo -------------------------------------------------------------------------


class _RandomReader(io.RawIOBase):
    """``size`` random bytes as a file, hashed as they are read (the layer's diff ID)."""

    def __init__(self, size: int) -> None:
        self.remaining = size
        self.hasher = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        count = min(len(buffer), self.remaining, CHUNK)
        data = os.urandom(count)
        buffer[:count] = data
        self.hasher.update(data)
        self.remaining -= count
        return count


def _write_layer(directory: Path, size: int) -> tuple[dict[str, object], str]:
    """A gzip (level 0) tar holding one random file; (descriptor, diff ID)."""
    temporary = directory / "layer.tmp"
    source = _RandomReader(size)
    with tarfile.open(temporary, "w:gz", compresslevel=0) as archive:
        info = tarfile.TarInfo("random.bin")
        info.size = size
        archive.addfile(info, io.BufferedReader(source, CHUNK))
    hasher = hashlib.sha256()
    with open(temporary, "rb") as handle:
        while chunk := handle.read(CHUNK):
            hasher.update(chunk)
    digest = hasher.hexdigest()
    size_on_disk = os.stat(temporary).st_size
    temporary.rename(directory / digest)
    entry = {"mediaType": OCI_LAYER, "digest": f"sha256:{digest}", "size": size_on_disk}
    return entry, "sha256:" + source.hasher.hexdigest()


def _write_blob(directory: Path, data: bytes) -> dict[str, object]:
    (directory / hashlib.sha256(data).hexdigest()).write_bytes(data)
    return {"digest": sha256(data), "size": len(data)}


def oci_layout(path: Path, tag: str, layers: int, layer_size: int) -> int:
    """Write an OCI image layout with ``layers`` random layers; the total bytes of its blobs."""
    blobs = path / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    entries, diff_ids = zip(*(_write_layer(blobs, layer_size) for _ in range(layers)), strict=True)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": list(diff_ids)},
        }
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, **_write_blob(blobs, config)},
            "layers": list(entries),
        }
    ).encode()
    top = {
        "mediaType": OCI_MANIFEST,
        **_write_blob(blobs, manifest),
        "annotations": {"org.opencontainers.image.ref.name": tag},
    }
    (path / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    (path / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [top]}))
    return sum(int(str(e["size"])) for e in entries) + len(config) + len(manifest)
