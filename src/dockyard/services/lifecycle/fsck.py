"""``dockyard fsck``: check that every tag -> manifest -> blob chain holds, and that blobs are
what their digests say; report, and optionally quarantine what is broken.

Blobs: the bytes of every published blob exist with the recorded size; a sample (or all) are
re-hashed. Manifests: their bytes hash to their digest and parse; every blob they reference
is linked into the repository and intact; every manifest an index lists is present.

Quarantine never deletes silently: a broken blob's bytes move to ``dockyard/quarantine/`` and
its record goes (so pulls say "unknown" instead of serving bad bytes, and pushing the image
again heals it); a manifest whose bytes do not match its digest is saved there too before its
record goes. Each is written to the deletion log first. Problems that quarantine cannot fix
(a manifest that no longer parses, a missing reference) are only reported.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from dockyard.core.digest import Digest, digest_of, new_hasher, parse_digest
from dockyard.core.errors import RegistryError
from dockyard.core.manifest import parse_manifest
from dockyard.core.patterns import matches
from dockyard.persistence.lifecycle_records import (
    DeletionLog,
    DeletionRecord,
    IntegrityStore,
    StoredManifest,
)
from dockyard.persistence.stores import MetadataStore
from dockyard.services.progress import NO_PROGRESS, Progress
from dockyard.services.registry.descriptors import BlobDescriptorCache
from dockyard.storage.driver import PathNotFoundError, StorageDriver
from dockyard.storage.layout import blob_path, quarantine_path

log = logging.getLogger("dockyard.fsck")
PAGE = 500
RULE = "fsck --quarantine"


@dataclass(frozen=True, slots=True)
class Problem:
    subject: str  # "blob sha256:..." or "repository@sha256:..."
    issue: str
    tags: tuple[str, ...] = ()
    action: str = ""  # what --quarantine did about it

    def describe(self) -> str:
        tags = f" (tags: {', '.join(self.tags)})" if self.tags else ""
        action = f" [{self.action}]" if self.action else ""
        return f"{self.subject}{tags}: {self.issue}{action}"


@dataclass(frozen=True, slots=True)
class FsckOptions:
    rehash: float = 0.0  # the share of blobs to re-hash: 0 none, 1 all
    rehash_count: int | None = None  # or about this many (turned into a share)
    repositories: str | None = None  # a pattern: check only these (and their blobs)
    quarantine: bool = False
    actor: str = "fsck"


@dataclass
class FsckReport:
    blobs: int = 0
    rehashed: int = 0
    manifests: int = 0
    repositories: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def quarantined(self) -> int:
        return sum(1 for p in self.problems if p.action.startswith("quarantined"))

    def summary(self) -> str:
        text = (
            f"checked {self.blobs} blobs ({self.rehashed} re-hashed) and {self.manifests} "
            f"manifests in {self.repositories} repositories: {len(self.problems)} problems"
        )
        return text + (f", {self.quarantined} quarantined" if self.quarantined else "")


class IntegrityChecker:
    def __init__(
        self,
        storage: StorageDriver,
        store: IntegrityStore,
        metadata: MetadataStore,
        deletions: DeletionLog,
        descriptors: BlobDescriptorCache,
        *,
        clock: Callable[[], float] = time.time,
        chance: Callable[[], float] = random.random,
    ) -> None:
        self.storage = storage
        self.store = store
        self.metadata = metadata
        self.deletions = deletions
        self.descriptors = descriptors
        self.clock = clock
        self.chance = chance

    async def run(self, options: FsckOptions, progress: Progress = NO_PROGRESS) -> FsckReport:
        report = FsckReport()
        share = await self._share(options)
        broken: dict[str, str] = {}
        total = await self.store.count_blobs() if options.repositories is None else None
        progress.begin("blobs", total)
        async for digest, size in self._blobs(options.repositories):
            progress.advance(1, size)
            report.blobs += 1
            rehash = share >= 1 or (share > 0 and self.chance() < share)
            report.rehashed += rehash
            issue = await self._check_blob(digest, size, rehash)
            if issue is not None:
                broken[digest] = issue
                action = (
                    await self._quarantine_blob(digest, issue, options)
                    if options.quarantine
                    else ""
                )
                report.problems.append(Problem(f"blob {digest}", issue, action=action))
        progress.end()
        progress.begin("repositories")
        async for repository in self._repositories(options.repositories):
            report.repositories += 1
            await self._check_repository(repository, broken, options, report)
            progress.advance(1)
        progress.end()
        log.info("fsck: %s", report.summary())
        return report

    # blobs --------------------------------------------------------------------------------

    async def _share(self, options: FsckOptions) -> float:
        if options.rehash_count is None:
            return options.rehash
        total = await self.store.count_blobs()
        return 1.0 if total <= options.rehash_count else options.rehash_count / total

    async def _blobs(self, pattern: str | None) -> AsyncIterator[tuple[str, int]]:
        if pattern is not None:
            seen: set[str] = set()
            async for repository in self._repositories(pattern):
                for digest, size in (await self.store.linked_blobs(repository)).items():
                    if digest not in seen:
                        seen.add(digest)
                        yield digest, size
            return
        after = 0
        while batch := await self.store.blobs(after, PAGE):
            for _blob_id, digest, size in batch:
                yield digest, size
            after = batch[-1][0]

    async def _check_blob(self, digest: str, size: int, rehash: bool) -> str | None:
        try:
            parsed = parse_digest(digest)
        except RegistryError:
            return "the recorded digest is invalid"
        try:
            stored = (await self.storage.stat(blob_path(parsed))).size
        except PathNotFoundError:
            return f"bytes missing ({blob_path(parsed)})"
        if stored != size:
            return f"{stored} bytes stored, {size} recorded"
        if rehash:
            actual = await self._hash(parsed, size)
            if actual != parsed.hex:
                return f"content hashes to {parsed.algorithm}:{actual}"
        return None

    async def _hash(self, digest: Digest, size: int) -> str:
        hasher = new_hasher(digest.algorithm)
        async for chunk in self.storage.read(blob_path(digest), 0, size):
            hasher.update(chunk)
        return str(hasher.hexdigest())

    async def _quarantine_blob(self, digest: str, issue: str, options: FsckOptions) -> str:
        parsed = parse_digest(digest)
        for repository in await self.metadata.repositories_with_blob(digest, 10_000):
            await self.descriptors.forget(repository, digest)
        repositories = await self.store.quarantine_blob(digest)
        if repositories is None:
            return "not quarantined: changed meanwhile"
        target = quarantine_path(parsed, int(self.clock()))
        reason = f"{issue}; bytes moved to {target}"
        for repository in repositories or [""]:
            await self._record(repository, digest, (), reason, options)
            await self.descriptors.forget_quietly(repository, digest)
        try:
            await self.storage.move(blob_path(parsed), target)
        except PathNotFoundError:
            target = ""
        await self.store.forget_blob(digest)
        log.warning("fsck: quarantined blob %s: %s", digest, reason)
        return f"quarantined: bytes moved to {target}" if target else "quarantined: record removed"

    # manifests ----------------------------------------------------------------------------

    async def _repositories(self, pattern: str | None) -> AsyncIterator[str]:
        last = ""
        while names := await self.metadata.list_repositories(last, PAGE):
            for name in names:
                if pattern is None or matches(pattern, name):
                    yield name
            last = names[-1]

    async def _check_repository(
        self, repository: str, broken: dict[str, str], options: FsckOptions, report: FsckReport
    ) -> None:
        manifests = await self.store.manifests(repository)
        linked = await self.store.linked_blobs(repository)
        present = {m.digest for m in manifests}
        for manifest in manifests:
            report.manifests += 1
            subject = f"{repository}@{manifest.digest}"
            for issue in _manifest_issues(manifest, linked, broken, present):
                action = ""
                if options.quarantine and issue.startswith("content hashes to"):
                    action = await self._quarantine_manifest(repository, manifest, issue, options)
                report.problems.append(Problem(subject, issue, manifest.tags, action))

    async def _quarantine_manifest(
        self, repository: str, manifest: StoredManifest, issue: str, options: FsckOptions
    ) -> str:
        target = quarantine_path(parse_digest(manifest.digest), int(self.clock()), "manifest")
        await self.storage.put_content(target, manifest.content)
        reason = f"{issue}; bytes saved to {target}"
        await self._record(repository, manifest.digest, manifest.tags, reason, options)
        await self.store.quarantine_manifest(repository, manifest.digest)
        log.warning("fsck: quarantined manifest %s@%s: %s", repository, manifest.digest, reason)
        return f"quarantined: bytes saved to {target}"

    async def _record(
        self,
        repository: str,
        digest: str,
        tags: tuple[str, ...],
        reason: str,
        options: FsckOptions,
    ) -> None:
        record = DeletionRecord(repository, digest, tags, RULE, reason, options.actor, self.clock())
        await self.deletions.record_deletion(record)


def _manifest_issues(
    manifest: StoredManifest, linked: dict[str, int], broken: dict[str, str], present: set[str]
) -> list[str]:
    issues = []
    claimed = parse_digest(manifest.digest)
    actual = digest_of(manifest.content, claimed.algorithm)
    if actual != claimed:
        issues.append(f"content hashes to {actual.text}")
    else:
        try:
            parse_manifest(manifest.content, manifest.media_type)
        except RegistryError as error:
            issues.append(f"does not parse any more: {error.message}")
    for blob in manifest.blobs:
        if blob in broken:
            issues.append(f"references broken blob {blob}: {broken[blob]}")
        elif blob not in linked:
            issues.append(f"references blob {blob}, which the repository does not have")
    for child in manifest.children:
        if child not in present:
            issues.append(f"lists manifest {child}, which the repository does not have")
    return issues
