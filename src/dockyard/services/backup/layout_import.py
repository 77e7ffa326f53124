"""``dockyard import-layout``: bring an OCI image layout (as ``dockyard export`` or
``skopeo copy ... oci:DIR:TAG`` writes it) into the registry.

Repositories come from each ``index.json`` entry's ``io.dockyard.repository`` annotation, or
from ``--repository`` (which then receives everything); tags from
``org.opencontainers.image.ref.name`` (``REPOSITORY:TAG`` or ``TAG``). Every manifest is checked
against its digest and parsed; every blob is streamed into a private upload path, verified
and published as an upload is (:mod:`dockyard.services.importing.import_copy`). Manifests are
recorded after what they reference (children before their index, subjects before their
referrers); one whose content is missing is reported and not recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec

from dockyard.core.digest import digest_of, parse_digest
from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.core.events import EventOrigin
from dockyard.core.manifest import ParsedManifest, parse_manifest
from dockyard.core.mediatypes import FOREIGN_LAYERS
from dockyard.core.reference import is_valid_tag, validate_name
from dockyard.persistence.stores import MetadataStore
from dockyard.services.backup.layout_export import REF_NAME, REPOSITORY
from dockyard.services.importing.import_copy import BlobCopier, CopyError
from dockyard.services.progress import NO_PROGRESS, Progress
from dockyard.services.registry.manifests import new_manifest
from dockyard.storage.driver import PathNotFoundError, StorageDriver, StorageError
from dockyard.storage.layout import blob_path

ACTOR = "dockyard import-layout"


@dataclass
class _Manifest:
    digest: str
    body: bytes
    parsed: ParsedManifest
    tags: set[str] = field(default_factory=set)


@dataclass
class LayoutImportReport:
    repositories: int = 0
    manifests: int = 0
    tags: int = 0
    blobs_copied: int = 0
    bytes_copied: int = 0
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"imported {self.repositories} repositories: {self.tags} tags, {self.manifests} "
            f"manifests; copied {self.blobs_copied} blobs ({self.bytes_copied} bytes)"
        )


class LayoutImporter:
    def __init__(self, storage: StorageDriver, metadata: MetadataStore) -> None:
        self.storage = storage
        self.metadata = metadata

    async def run(
        self, source: StorageDriver, repository: str | None = None, progress: Progress = NO_PROGRESS
    ) -> LayoutImportReport:
        """``source`` reads the layout under dockyard's blob paths (``OciLayoutView``)."""
        report = LayoutImportReport()
        roots = await self._roots(source, repository, report)
        copier = BlobCopier(source, self.storage, self.metadata)
        for name, wanted in roots.items():
            manifests = await self._read_all(source, name, wanted, report)
            await self._copy_blobs(copier, name, manifests, report, progress)
            await self._record(name, manifests, report)
            report.repositories += 1
        return report

    async def _roots(
        self, source: StorageDriver, repository: str | None, report: LayoutImportReport
    ) -> dict[str, dict[str, set[str]]]:
        """repository -> manifest digest -> tags, from ``index.json``."""
        try:
            index = msgspec.json.decode(await source.get_content("index.json"))
            entries: list[dict[str, Any]] = list(index["manifests"])
        except (PathNotFoundError, msgspec.DecodeError, KeyError, TypeError) as exc:
            raise RegistryError(
                ErrorCode.MANIFEST_INVALID, f"not an OCI image layout: {exc}"
            ) from exc
        roots: dict[str, dict[str, set[str]]] = {}
        for entry in entries:
            annotations = entry.get("annotations") or {}
            name = repository or annotations.get(REPOSITORY)
            digest = str(entry.get("digest", ""))
            if not name:
                report.problems.append(f"{digest}: no repository (pass --repository)")
                continue
            validate_name(name)
            tags = roots.setdefault(name, {}).setdefault(digest, set())
            ref = str(annotations.get(REF_NAME, ""))
            tag = ref.split(":", 1)[1] if ":" in ref else ref
            if tag and is_valid_tag(tag):
                tags.add(tag)
            elif ref:
                report.problems.append(f"{digest}: reference {ref!r} is not a tag; not tagged")
        return roots

    async def _read_all(
        self,
        source: StorageDriver,
        name: str,
        wanted: dict[str, set[str]],
        report: LayoutImportReport,
    ) -> dict[str, _Manifest]:
        manifests: dict[str, _Manifest] = {}
        pending = list(wanted)
        while pending:
            digest = pending.pop()
            if digest in manifests:
                continue
            manifest = await self._read(source, name, digest, report)
            if manifest is None:
                continue
            manifest.tags = wanted.get(digest, set())
            manifests[digest] = manifest
            pending += [child.digest for child in manifest.parsed.children]
        return manifests

    async def _read(
        self, source: StorageDriver, name: str, digest: str, report: LayoutImportReport
    ) -> _Manifest | None:
        try:
            parsed_digest = parse_digest(digest)
            body = await source.get_content(blob_path(parsed_digest))
            if digest_of(body, parsed_digest.algorithm) != parsed_digest:
                report.problems.append(f"{name}: manifest {digest} does not match its digest")
                return None
            return _Manifest(digest, body, parse_manifest(body, ""))
        except PathNotFoundError:
            report.problems.append(f"{name}: manifest {digest} is missing from the layout")
        except RegistryError as error:
            report.problems.append(f"{name}: manifest {digest} skipped: {error.message}")
        return None

    async def _copy_blobs(
        self,
        copier: BlobCopier,
        name: str,
        manifests: dict[str, _Manifest],
        report: LayoutImportReport,
        progress: Progress,
    ) -> None:
        blobs = {
            d.digest: d.size
            for m in manifests.values()
            for d in m.parsed.blobs
            if not (d.mediaType in FOREIGN_LAYERS and d.urls)
        }
        progress.begin(f"blobs of {name}", len(blobs), sum(blobs.values()))
        for digest, size in blobs.items():
            try:
                copied = await copier.copy(name, parse_digest(digest), size)
            except (CopyError, StorageError, RegistryError) as error:
                report.problems.append(f"{name}: blob {digest} not imported: {error}")
                continue
            report.blobs_copied += copied.copied_bytes > 0
            report.bytes_copied += copied.copied_bytes
            progress.advance(1, size)
        progress.end()

    async def _record(
        self, name: str, manifests: dict[str, _Manifest], report: LayoutImportReport
    ) -> None:
        origin = EventOrigin(actor=ACTOR)
        pending = list(manifests.values())
        while pending:
            deferred = []
            for manifest in pending:
                record = new_manifest(
                    manifest.digest, manifest.body, manifest.parsed, tuple(sorted(manifest.tags))
                )
                if await self.metadata.put_manifest(name, record, origin=origin):
                    deferred.append(manifest)
                    continue
                report.manifests += 1
                report.tags += len(manifest.tags)
            if len(deferred) == len(pending):
                for manifest in deferred:
                    report.problems.append(f"{name}: {manifest.digest} references missing content")
                return
            pending = deferred
