"""Findings as documents: the JSON shape shared by ``/api/v1`` and the CLI, and CSV (one
row per finding; a cell that a spreadsheet would run as a formula is quoted with ``'``)."""

from __future__ import annotations

import csv
import io

import msgspec

from dockyard.core.vulns.severity import SEVERITIES
from dockyard.services.vulns.service import ArtifactReport, ImageReport
from dockyard.services.vulns.store import DbState, Finding, ImageSummary, SearchHit

CSV_COLUMNS = (
    "repository", "subject", "platform", "image", "ecosystem", "package", "installed", "fixed",
    "severity", "cvss_score", "advisory", "aliases", "summary",
)  # fmt: skip


class DatabaseView(msgspec.Struct):
    version: str
    updated: str  # the newest ``modified`` time among the advisories
    importedAt: float  # noqa: N815 - the wire name
    ageSeconds: float  # noqa: N815 - since the import
    advisories: int


class Counts(msgspec.Struct):
    critical: int
    high: int
    medium: int
    low: int
    unknown: int
    total: int


class FindingView(msgspec.Struct):
    ecosystem: str
    package: str
    installed: str
    fixed: str  # "" when no fixed version is known
    severity: str
    cvssScore: float | None  # noqa: N815 - the wire name
    cvssVector: str  # noqa: N815 - the wire name
    advisory: str
    aliases: list[str]
    summary: str


class SummaryView(msgspec.Struct):
    subject: str  # the manifest scanned (an image, or an index)
    image: str  # the image judged (the subject, or one platform of the index)
    platform: str
    scannedAt: float  # noqa: N815 - the wire name
    databaseVersion: str  # noqa: N815 - the wire name
    summary: Counts


class ImageView(msgspec.Struct):
    subject: str
    image: str
    platform: str
    scannedAt: float  # noqa: N815 - the wire name
    databaseVersion: str  # noqa: N815 - the wire name
    summary: Counts
    findings: list[FindingView]


class ReportView(msgspec.Struct):
    repository: str
    digest: str
    scanned: bool  # False: not scanned yet (no image below)
    database: DatabaseView | None
    images: list[ImageView]


class HitView(msgspec.Struct):
    repository: str
    subject: str
    platform: str
    image: str
    ecosystem: str
    package: str
    installed: str
    fixed: str
    advisory: str


def database_json(state: DbState | None, now: float) -> DatabaseView | None:
    if state is None:
        return None
    age = max(0.0, round(now - state.imported_at, 3))
    return DatabaseView(state.version, state.updated, state.imported_at, age, state.advisories)


def _counts(summary: ImageSummary) -> Counts:
    return Counts(*summary.counts, total=sum(summary.counts))


def summary_json(summary: ImageSummary) -> SummaryView:
    return SummaryView(
        summary.subject, summary.image, summary.platform, summary.scanned_at,
        summary.db_version, _counts(summary),
    )  # fmt: skip


def finding_json(f: Finding) -> FindingView:
    return FindingView(
        f.ecosystem, f.package, f.installed, f.fixed, f.severity, f.cvss_score, f.cvss_vector,
        f.advisory, list(f.aliases), f.summary,
    )  # fmt: skip


def _image_json(image: ImageReport) -> ImageView:
    s = image.summary
    findings = [finding_json(f) for f in image.findings]
    return ImageView(
        s.subject, s.image, s.platform, s.scanned_at, s.db_version, _counts(s), findings
    )


def report_json(report: ArtifactReport, now: float) -> ReportView:
    return ReportView(
        report.repository, report.digest, bool(report.images),
        database_json(report.database, now), [_image_json(i) for i in report.images],
    )  # fmt: skip


def hit_json(hit: SearchHit) -> HitView:
    return HitView(
        hit.repository, hit.subject, hit.platform, hit.image, hit.ecosystem, hit.package,
        hit.installed, hit.fixed, hit.advisory,
    )  # fmt: skip


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def report_csv(report: ArtifactReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for image in report.images:
        summary = image.summary
        for f in sorted(image.findings, key=lambda f: SEVERITIES.index(f.severity)):
            writer.writerow(
                _cell(v)
                for v in (
                    report.repository, summary.subject, summary.platform, summary.image,
                    f.ecosystem, f.package, f.installed, f.fixed, f.severity, f.cvss_score,
                    f.advisory, " ".join(f.aliases), f.summary,
                )
            )  # fmt: skip
    return out.getvalue()
