"""Vulnerability use cases: importing a database, scanning images, reading findings.

- :meth:`VulnService.import_path` (system administrators): load OSV records, store them
  (idempotent, withdrawn ones removed), then re-evaluate every stored image inventory in SQL
  (no image is read again) and announce the images whose findings changed.
- :meth:`VulnService.scan`: an image or index (each platform on its own) as pushed: its
  packages recorded from the layers' stored inventories, matched, summarized.
- reports per artifact and per repository (pull access), search by advisory or CVE id
  across the registry (the repositories the caller may pull), and
  :meth:`VulnService.findings_summary` for other services (such as a pull gate).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from dockyard.auth.policy import AccessPolicy, Action
from dockyard.auth.principal import Principal
from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.core.events import EventOrigin
from dockyard.core.reference import validate_name
from dockyard.services.events import origin_of
from dockyard.services.supplychain.inventory import ImageInventory, InventoryBuilder
from dockyard.services.vulns.loader import ImportRefusedError, LoadLimits, load
from dockyard.services.vulns.matcher import evaluate
from dockyard.services.vulns.store import (
    DbState,
    Finding,
    FindingStore,
    ImageSummary,
    ImportCounts,
    ScannedImage,
    SearchHit,
    VulnDbStore,
)

MAX_SEARCH = 1000
SYSTEM_ORIGIN = EventOrigin(actor="system:vulnerabilities")


@dataclass(frozen=True, slots=True)
class ImportReport:
    counts: ImportCounts
    images: int  # images re-evaluated
    changed: int  # images whose findings changed


@dataclass(frozen=True, slots=True)
class ImageReport:
    summary: ImageSummary
    findings: list[Finding]


@dataclass(frozen=True, slots=True)
class ArtifactReport:
    repository: str
    digest: str
    database: DbState | None
    images: list[ImageReport]  # empty: not scanned (yet)


def scanned(image: ImageInventory) -> ScannedImage:
    packages = frozenset((p.ecosystem, p.name, p.version, p.source) for p in image.packages)
    return ScannedImage(image.digest, image.platform, packages)


class VulnService:
    def __init__(
        self,
        policy: AccessPolicy,
        builder: InventoryBuilder,
        vulndb: VulnDbStore,
        findings: FindingStore,
        *,
        limits: LoadLimits | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.policy, self.builder = policy, builder
        self.vulndb, self.store = vulndb, findings
        self.limits, self.clock = limits, clock

    async def database(self) -> DbState | None:
        """Which vulnerability database is loaded (None: none imported yet)."""
        return await self.vulndb.state()

    async def status(self, principal: Principal) -> DbState | None:
        """The loaded database, for any caller who logged in."""
        if not principal.authenticated:
            raise RegistryError(ErrorCode.DENIED, "log in to see the vulnerability database")
        return await self.vulndb.state()

    async def import_path(self, principal: Principal, path: Path) -> ImportReport:
        """Import OSV records from a file, a directory or a zip archive, then re-evaluate."""
        self.policy.require_admin(principal)
        try:
            advisories = await asyncio.to_thread(load, path, self.limits)
        except ImportRefusedError as exc:
            raise RegistryError(ErrorCode.BAD_REQUEST, f"import refused: {exc}") from None
        counts = await self.vulndb.apply(advisories, self.clock())
        images, changed = await self.reevaluate(origin_of(principal), counts.touched)
        return ImportReport(counts, images, changed)

    async def reevaluate(
        self, origin: EventOrigin | None = SYSTEM_ORIGIN, touched: Sequence[int] = ()
    ) -> tuple[int, int]:
        """Match every stored package version against the database again; count again the
        images holding a package whose matches changed (or that matched an advisory the import
        replaced or removed: ``touched``). Returns (images judged, images whose findings
        changed)."""
        state = await self.vulndb.state()
        await self.store.prune()
        candidates = await self.vulndb.candidates()
        matches = await asyncio.to_thread(evaluate, candidates)
        changed = await self.store.replace_matches(matches)
        version = state.version if state is not None else ""
        packages = sorted(set(changed) | set(touched))
        changes = await self.store.refresh(version, self.clock(), origin, packages=packages)
        images = await self.store.image_count()
        return images, len(changes)

    async def scan(
        self, repository: str, digest: str, origin: EventOrigin | None = SYSTEM_ORIGIN
    ) -> list[ImageSummary]:
        """Judge a pushed image or index (each platform on its own) with the loaded database.
        An artifact (an SBOM, a signature) or an index without images gets nothing."""
        record = await self.builder.manifest(repository, digest)
        if not await self.builder.has_images(repository, record):
            return []
        images = [scanned(i) for i in await self.builder.images(repository, record)]
        package_ids = await self.store.save_images(record.digest, images, self.clock())
        candidates = await self.vulndb.candidates(package_ids)
        await self.store.add_matches(await asyncio.to_thread(evaluate, candidates))
        state = await self.vulndb.state()
        version = state.version if state is not None else ""
        digests = [image.digest for image in images]
        await self.store.refresh(version, self.clock(), origin, images=digests)
        return await self.store.summaries(record.digest)

    async def scan_now(
        self, principal: Principal, repository: str, reference: str
    ) -> list[ImageSummary]:
        """Scan on demand (push access, as attaching an SBOM needs)."""
        validate_name(repository)
        self.policy.require(principal, Action.PUSH, repository)
        record = await self.builder.manifest(repository, reference)
        return await self.scan(repository, record.digest, origin_of(principal))

    async def report(self, principal: Principal, repository: str, reference: str) -> ArtifactReport:
        """Findings of the artifact a tag or digest names, per platform (pull access)."""
        validate_name(repository)
        self.policy.require(principal, Action.PULL, repository)
        record = await self.builder.manifest(repository, reference)
        images = [
            ImageReport(summary, await self.store.findings(summary.image))
            for summary in await self.store.summaries(record.digest)
        ]
        return ArtifactReport(repository, record.digest, await self.vulndb.state(), images)

    async def repository_report(self, principal: Principal, repository: str) -> list[ImageSummary]:
        """Summaries of every scanned manifest in the repository (pull access)."""
        validate_name(repository)
        self.policy.require(principal, Action.PULL, repository)
        return await self.store.repository_summaries(repository)

    async def search(
        self, principal: Principal, advisory: str, limit: int = 100
    ) -> list[SearchHit]:
        """Where an advisory (its id, or an alias such as CVE-2024-1234) was found, in the
        repositories the caller may pull."""
        if not advisory or len(advisory) > 128:
            raise RegistryError(ErrorCode.BAD_REQUEST, "give an advisory or CVE id")
        limit = max(1, min(limit, MAX_SEARCH))
        hits = await self.store.search(advisory.strip(), MAX_SEARCH)
        allowed: dict[str, bool] = {}
        visible = []
        for hit in hits:
            if hit.repository not in allowed:
                allowed[hit.repository] = self.policy.allows(principal, Action.PULL, hit.repository)
            if allowed[hit.repository]:
                visible.append(hit)
        return visible[:limit]

    async def totals(self) -> tuple[int, tuple[int, int, int, int, int]]:
        """For the metrics: (images judged, findings by severity over all of them)."""
        return await self.store.totals()

    async def findings_summary(self, digest: str) -> list[ImageSummary]:
        """How ``digest`` was judged, for other services (no access check: the caller has
        made it). An index: one entry per platform; an image: its own entry (also when it was
        judged as a platform of an index); empty: not scanned."""
        return await self.store.summaries(digest)
