"""Adopt a Distribution (registry:2) storage root: in place, or by copying its blobs.

Distribution keeps its metadata as link files beside the blobs::

    docker/registry/v2/repositories/<name>/
      _layers/<alg>/<hex>/link                      blobs the repository may use
      _manifests/revisions/<alg>/<hex>/link         manifests pushed to the repository
      _manifests/tags/<tag>/current/link            the manifest a tag points at

When the root is dockyard's own filesystem root, the bytes already live at dockyard's
(identical) blob paths, so importing only reads these links, checks that the bytes exist (and
optionally re-hashes them) and records repositories, blob links, manifests and tags in the
database; nothing is copied or moved. Otherwise (dockyard stores blobs in S3, or under another
root) the root is read through a read-only ``source`` and each linked blob is copied
into dockyard's storage by :mod:`dockyard.services.importing.import_copy` (streamed, verified,
published as uploads are) before it is recorded. Either way, running the import again is
harmless: bytes already in place are neither copied nor recorded twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

from dockyard.core.digest import Digest, digest_of, new_hasher, parse_digest
from dockyard.core.errors import RegistryError
from dockyard.core.manifest import ParsedManifest, parse_manifest
from dockyard.core.reference import is_valid_tag, validate_name
from dockyard.persistence.stores import MetadataStore
from dockyard.services.importing.import_copy import BlobCopier, CopyError
from dockyard.services.progress import NO_PROGRESS, Progress
from dockyard.services.registry.manifests import new_manifest
from dockyard.storage.driver import PathNotFoundError, StorageDriver, StorageError
from dockyard.storage.layout import blob_path

REPOSITORIES = "docker/registry/v2/repositories"
_MARKERS = frozenset({"_layers", "_manifests", "_uploads"})
log = logging.getLogger("dockyard.import")


@dataclass
class Counts:
    repositories: int = 0
    blobs: int = 0
    manifests: int = 0
    tags: int = 0

    def text(self, qualifier: str = "") -> str:
        return (
            f"{self.repositories} {qualifier}repositories, {self.blobs} {qualifier}blob links, "
            f"{self.manifests} {qualifier}manifests, {self.tags} {qualifier}tags"
        )


@dataclass
class ImportReport:
    """What the root holds (each count) and, of that, what was recorded before this run
    (``already``), so a repeated import can say it recorded nothing new."""

    repositories: int = 0
    blobs: int = 0
    manifests: int = 0
    tags: int = 0
    already: Counts = field(default_factory=Counts)
    copied: int = 0
    copied_bytes: int = 0
    problems: list[str] = field(default_factory=list)
    planned: set[str] = field(default_factory=set)  # digests a dry run counted as copied

    @property
    def new(self) -> Counts:
        """What this run recorded (a dry run: would record) that was not recorded before."""
        return Counts(
            self.repositories - self.already.repositories,
            self.blobs - self.already.blobs,
            self.manifests - self.already.manifests,
            self.tags - self.already.tags,
        )

    def problem(self, text: str) -> None:
        log.warning("import: %s", text)
        self.problems.append(text)


@dataclass
class _Manifest:
    digest: Digest
    body: bytes
    parsed: ParsedManifest
    tags: list[str] = field(default_factory=list)


class DistributionImporter:
    """Imports the root ``source`` reads; without one, dockyard's own ``storage`` (in place)."""

    def __init__(
        self, storage: StorageDriver, metadata: MetadataStore, source: StorageDriver | None = None
    ) -> None:
        self.storage = storage
        self.metadata = metadata
        self.source = source or storage
        self.copier = BlobCopier(source, storage, metadata) if source is not None else None

    def reading(self, source: StorageDriver | None) -> DistributionImporter:
        """An importer for the root ``source`` reads (None: dockyard's own storage, in place)."""
        return DistributionImporter(self.storage, self.metadata, source)

    async def run(
        self, *, dry_run: bool = False, verify_blobs: bool = False, progress: Progress = NO_PROGRESS
    ) -> ImportReport:
        report = ImportReport()
        names = await self.repositories()
        progress.begin("repositories", len(names))
        for name in names:
            report.already.repositories += await self.metadata.repository_exists(name)
            copied = report.copied_bytes
            await self._import_repository(name, report, dry_run=dry_run, verify=verify_blobs)
            report.repositories += 1
            progress.advance(1, report.copied_bytes - copied)
        progress.end()
        return report

    async def repositories(self) -> list[str]:
        """Every repository name under the Distribution root, sorted."""
        found: list[str] = []
        await self._walk(REPOSITORIES, [], found)
        return sorted(found)

    async def _walk(self, path: str, parts: list[str], found: list[str]) -> None:
        children = await self._list(path)
        if parts and _MARKERS.intersection(children):
            found.append("/".join(parts))
        for child in children:
            if not child.startswith("_"):
                await self._walk(f"{path}/{child}", [*parts, child], found)

    async def _list(self, path: str) -> list[str]:
        try:
            return await self.source.list(path)
        except PathNotFoundError:
            return []

    async def _import_repository(
        self, name: str, report: ImportReport, *, dry_run: bool, verify: bool
    ) -> None:
        try:
            validate_name(name)
        except RegistryError as error:
            report.problem(f"{name}: skipped, {error.message}")
            return
        base = f"{REPOSITORIES}/{name}"
        for digest in await self._linked_digests(f"{base}/_layers", report):
            known = await self.metadata.linked_blob(name, digest.text) is not None
            if await self._import_blob(name, digest, report, dry_run=dry_run, verify=verify):
                report.blobs += 1
                report.already.blobs += known
        manifests = await self._read_manifests(name, base, report)
        await self._attach_tags(name, base, manifests, report)
        await self._record_manifests(name, manifests, report, dry_run=dry_run)

    async def _linked_digests(self, directory: str, report: ImportReport) -> list[Digest]:
        digests = []
        for algorithm in await self._list(directory):
            for encoded in await self._list(f"{directory}/{algorithm}"):
                text = await self._read_link(f"{directory}/{algorithm}/{encoded}/link")
                if not text:
                    continue  # registry:2 deletes by removing the link file
                try:
                    digests.append(parse_digest(text))
                except RegistryError:
                    report.problem(f"{directory}/{algorithm}/{encoded}: invalid digest link")
        return digests

    async def _read_link(self, path: str) -> str:
        try:
            return (await self.source.get_content(path)).decode("ascii", "replace").strip()
        except PathNotFoundError:
            return ""

    async def _import_blob(
        self, name: str, digest: Digest, report: ImportReport, *, dry_run: bool, verify: bool
    ) -> bool:
        try:
            size = (await self.source.stat(blob_path(digest))).size
        except PathNotFoundError:
            report.problem(f"{name}: layer {digest} is linked but its bytes are missing")
            return False
        if self.copier is not None:
            return await self._copy_blob(name, digest, size, report, dry_run=dry_run)
        if verify and not await self._hash_matches(digest):
            report.problem(f"{name}: blob {digest} does not match its digest; not imported")
            return False
        if not dry_run and await self.metadata.commit_blob(name, digest.text, size) is None:
            report.problem(f"{name}: blob {digest} is being garbage collected; not imported")
            return False
        return True

    async def _copy_blob(
        self, name: str, digest: Digest, size: int, report: ImportReport, *, dry_run: bool
    ) -> bool:
        """Copy (always verifying the digest while streaming) unless the target has it."""
        assert self.copier is not None
        if dry_run:
            if await self.copier.needs_copy(digest, size) and digest.text not in report.planned:
                report.planned.add(digest.text)
                report.copied += 1
                report.copied_bytes += size
            return True
        try:
            copied = await self.copier.copy(name, digest, size)
        except (CopyError, StorageError) as error:
            report.problem(f"{name}: blob {digest} not imported: {error}")
            return False
        if copied.copied_bytes:
            report.copied += 1
            report.copied_bytes += copied.copied_bytes
        return True

    async def _hash_matches(self, digest: Digest) -> bool:
        hasher = new_hasher(digest.algorithm)
        async for chunk in self.source.read(blob_path(digest)):
            hasher.update(chunk)
        return bool(hasher.hexdigest() == digest.hex)

    async def _read_manifests(
        self, name: str, base: str, report: ImportReport
    ) -> dict[str, _Manifest]:
        manifests: dict[str, _Manifest] = {}
        for digest in await self._linked_digests(f"{base}/_manifests/revisions", report):
            try:
                body = await self.source.get_content(blob_path(digest))
            except PathNotFoundError:
                report.problem(f"{name}: manifest {digest} is linked but missing")
                continue
            if digest_of(body, digest.algorithm) != digest:
                report.problem(f"{name}: manifest {digest} does not match its digest")
                continue
            try:
                parsed = parse_manifest(body, "")
            except RegistryError as error:
                report.problem(f"{name}: manifest {digest} skipped: {error.message}")
                continue
            manifests[digest.text] = _Manifest(digest, body, parsed)
        return manifests

    async def _attach_tags(
        self, name: str, base: str, manifests: dict[str, _Manifest], report: ImportReport
    ) -> None:
        for tag in await self._list(f"{base}/_manifests/tags"):
            target = await self._read_link(f"{base}/_manifests/tags/{tag}/current/link")
            if not target:
                continue
            if not is_valid_tag(tag) or target not in manifests:
                report.problem(f"{name}: tag {tag!r} -> {target or '?'} skipped")
                continue
            manifests[target].tags.append(tag)

    async def _record_manifests(
        self, name: str, manifests: dict[str, _Manifest], report: ImportReport, *, dry_run: bool
    ) -> None:
        pending = sorted(manifests.values(), key=lambda m: len(m.parsed.children))
        while pending:
            deferred = []
            for manifest in pending:
                known, tags_known = await self._recorded(name, manifest)
                if dry_run or await self._put(name, manifest):
                    report.manifests += 1
                    report.tags += len(manifest.tags)
                    report.already.manifests += known
                    report.already.tags += tags_known
                else:
                    deferred.append(manifest)
            if len(deferred) == len(pending):
                for manifest in deferred:
                    report.problem(f"{name}: manifest {manifest.digest} references missing content")
                return
            pending = deferred

    async def _recorded(self, name: str, manifest: _Manifest) -> tuple[bool, int]:
        """Whether the manifest is recorded already, and how many of its tags point at it."""
        digest = manifest.digest.text
        known = await self.metadata.manifest_by_digest(name, digest) is not None
        tags = 0
        for tag in manifest.tags:
            current = await self.metadata.manifest_by_tag(name, tag)
            tags += current is not None and current.digest == digest
        return known, tags

    async def _put(self, name: str, manifest: _Manifest) -> bool:
        record = new_manifest(
            manifest.digest.text, manifest.body, manifest.parsed, tuple(sorted(manifest.tags))
        )
        record = replace(record, declared_sizes=())  # registry:2 stored it; import it as is
        missing = await self.metadata.put_manifest(name, record)
        return not missing
