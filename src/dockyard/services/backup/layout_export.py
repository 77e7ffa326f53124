"""``dockyard export``: repositories as one OCI image layout (``oci-layout``, ``index.json``,
``blobs/<algorithm>/<hex>``), for carrying images into an air-gapped site.

Each repository goes whole: every manifest, tagged or not (so signatures, SBOMs and other
referrers travel with their subjects), every child of an index and every blob, each written
once however many repositories share it. ``index.json`` lists each tag with the annotation
``org.opencontainers.image.ref.name`` (the tag alone when one repository is exported, so
``skopeo copy oci:DIR:TAG`` finds it; ``REPOSITORY:TAG`` when several are), plus every untagged
manifest no index lists (referrers among them); ``io.dockyard.repository`` names the
repository on every entry. Blobs are verified against their digests on the way; the
``index.json`` is written last, so a layout without one is unfinished.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import msgspec

from dockyard.core.digest import parse_digest
from dockyard.core.patterns import matches
from dockyard.persistence.lifecycle_records import IntegrityStore, StoredManifest
from dockyard.persistence.stores import MetadataStore
from dockyard.services.backup.copying import copy_verified
from dockyard.services.progress import NO_PROGRESS, Progress
from dockyard.storage.driver import StorageDriver
from dockyard.storage.layout import blob_path

REF_NAME = "org.opencontainers.image.ref.name"
REPOSITORY = "io.dockyard.repository"
LAYOUT_FILE = b'{"imageLayoutVersion":"1.0.0"}'
INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"
STAGING = ".dockyard-staging"
PAGE = 500


def layout_blob_path(digest: str) -> str:
    parsed = parse_digest(digest)
    return f"blobs/{parsed.algorithm}/{parsed.hex}"


@dataclass
class ExportReport:
    repositories: int = 0
    manifests: int = 0
    tags: int = 0
    blobs: int = 0
    blob_bytes: int = 0
    entries: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"exported {self.repositories} repositories: {self.tags} tags, {self.manifests} "
            f"manifests, {self.blobs} blobs ({self.blob_bytes} bytes)"
        )


class LayoutExporter:
    def __init__(
        self, storage: StorageDriver, metadata: MetadataStore, integrity: IntegrityStore
    ) -> None:
        self.storage = storage
        self.metadata = metadata
        self.integrity = integrity

    async def repositories(self, pattern: str) -> AsyncIterator[str]:
        last = ""
        while names := await self.metadata.list_repositories(last, PAGE):
            for name in names:
                if matches(pattern, name):
                    yield name
            last = names[-1]

    async def run(
        self, pattern: str, target: StorageDriver, progress: Progress = NO_PROGRESS
    ) -> ExportReport:
        names = [name async for name in self.repositories(pattern)]
        report = ExportReport(repositories=len(names))
        if not names:
            return report  # nothing to write: no layout at all
        plan = {name: await self.integrity.manifests(name) for name in names}
        blobs: dict[str, int] = {}
        for name in names:
            blobs.update(await self.integrity.linked_blobs(name))
        await target.put_content("oci-layout", LAYOUT_FILE)
        await self._copy_blobs(blobs, plan, target, report, progress)
        for name, manifests in plan.items():
            await self._write_manifests(name, manifests, target, report, single=len(names) == 1)
        index = {"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": report.entries}
        await target.put_content("index.json", msgspec.json.encode(index))
        await target.delete(STAGING)
        return report

    async def _copy_blobs(
        self,
        linked: dict[str, int],
        plan: dict[str, list[StoredManifest]],
        target: StorageDriver,
        report: ExportReport,
        progress: Progress,
    ) -> None:
        needed = {blob for manifests in plan.values() for m in manifests for blob in m.blobs}
        wanted = {digest: linked[digest] for digest in sorted(needed) if digest in linked}
        progress.begin("blobs", len(wanted), sum(wanted.values()))
        for digest, size in wanted.items():
            parsed = parse_digest(digest)
            await copy_verified(
                self.storage, blob_path(parsed), target, layout_blob_path(digest),
                staging_path=f"{STAGING}/{parsed.hex}", digest=parsed, size=size,
            )  # fmt: skip
            report.blobs += 1
            report.blob_bytes += size
            progress.advance(1, size)
        progress.end()

    async def _write_manifests(
        self,
        repository: str,
        manifests: list[StoredManifest],
        target: StorageDriver,
        report: ExportReport,
        *,
        single: bool,
    ) -> None:
        listed = {child for m in manifests for child in m.children}
        for manifest in manifests:
            await target.put_content(layout_blob_path(manifest.digest), manifest.content)
            report.manifests += 1
            descriptor = {
                "mediaType": manifest.media_type,
                "digest": manifest.digest,
                "size": len(manifest.content),
            }
            for tag in manifest.tags:
                ref = tag if single else f"{repository}:{tag}"
                annotations = {REF_NAME: ref, REPOSITORY: repository}
                report.entries.append({**descriptor, "annotations": annotations})
                report.tags += 1
            if not manifest.tags and manifest.digest not in listed:
                report.entries.append({**descriptor, "annotations": {REPOSITORY: repository}})
