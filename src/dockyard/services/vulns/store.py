"""What the vulnerability services need from the metadata database."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from dockyard.core.events import EventOrigin
from dockyard.core.vulns.osv import Advisory
from dockyard.persistence.sql.vulndb import Candidate, DbState, ImportCounts
from dockyard.persistence.sql.vulns import (
    Finding,
    ImageSummary,
    ScannedImage,
    SearchHit,
    SummaryChange,
)

__all__ = [
    "Candidate", "DbState", "Finding", "FindingStore", "ImageSummary", "ImportCounts",
    "ScannedImage", "SearchHit", "SummaryChange", "VulnDbStore",
]  # fmt: skip


class VulnDbStore(Protocol):
    async def state(self) -> DbState | None: ...
    async def apply(self, advisories: Sequence[Advisory], now: float) -> ImportCounts: ...
    async def candidates(self, package_ids: Sequence[int] | None = None) -> list[Candidate]: ...


class FindingStore(Protocol):
    async def save_images(
        self, subject: str, images: Sequence[ScannedImage], now: float
    ) -> list[int]: ...
    async def add_matches(self, rows: Sequence[tuple[int, str, str, str]]) -> None: ...
    async def replace_matches(self, rows: Sequence[tuple[int, str, str, str]]) -> list[int]: ...
    async def refresh(
        self,
        db_version: str,
        now: float,
        origin: EventOrigin | None,
        images: Sequence[str] | None = None,
        packages: Sequence[int] | None = None,
    ) -> list[SummaryChange]: ...
    async def prune(self) -> int: ...
    async def image_count(self) -> int: ...
    async def totals(self) -> tuple[int, tuple[int, int, int, int, int]]: ...
    async def findings(self, image: str) -> list[Finding]: ...
    async def summaries(self, digest: str) -> list[ImageSummary]: ...
    async def repository_summaries(self, repository: str) -> list[ImageSummary]: ...
    async def search(self, advisory: str, limit: int) -> list[SearchHit]: ...
