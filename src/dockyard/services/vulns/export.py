"""Findings as documents: the JSON shape shared by ``/api/v1`` and the CLI, and CSV (one
row per finding; a cell that a spreadsheet would run as a formula is quoted with ``'``)."""

from __future__ import annotations

import csv
import io
from typing import Any

from dockyard.core.vulns.severity import SEVERITIES
from dockyard.services.vulns.service import ArtifactReport, ImageReport
from dockyard.services.vulns.store import DbState, Finding, ImageSummary, SearchHit

CSV_COLUMNS = (
    "repository", "subject", "platform", "image", "ecosystem", "package", "installed", "fixed",
    "severity", "cvss_score", "advisory", "aliases", "summary",
)  # fmt: skip


def database_json(state: DbState | None, now: float) -> dict[str, Any] | None:
    if state is None:
        return None
    return {
        "version": state.version,
        "updated": state.updated,
        "importedAt": state.imported_at,
        "ageSeconds": max(0.0, round(now - state.imported_at, 3)),
        "advisories": state.advisories,
    }


def summary_json(summary: ImageSummary) -> dict[str, Any]:
    counts = summary.by_severity()
    return {
        "subject": summary.subject,
        "image": summary.image,
        "platform": summary.platform,
        "scannedAt": summary.scanned_at,
        "databaseVersion": summary.db_version,
        "summary": {**counts, "total": sum(counts.values())},
    }


def finding_json(finding: Finding) -> dict[str, Any]:
    return {
        "ecosystem": finding.ecosystem,
        "package": finding.package,
        "installed": finding.installed,
        "fixed": finding.fixed,
        "severity": finding.severity,
        "cvssScore": finding.cvss_score,
        "cvssVector": finding.cvss_vector,
        "advisory": finding.advisory,
        "aliases": list(finding.aliases),
        "summary": finding.summary,
    }


def _image_json(image: ImageReport) -> dict[str, Any]:
    return {**summary_json(image.summary), "findings": [finding_json(f) for f in image.findings]}


def report_json(report: ArtifactReport, now: float) -> dict[str, Any]:
    return {
        "repository": report.repository,
        "digest": report.digest,
        "scanned": bool(report.images),
        "database": database_json(report.database, now),
        "images": [_image_json(image) for image in report.images],
    }


def hit_json(hit: SearchHit) -> dict[str, Any]:
    return {
        "repository": hit.repository,
        "subject": hit.subject,
        "platform": hit.platform,
        "image": hit.image,
        "ecosystem": hit.ecosystem,
        "package": hit.package,
        "installed": hit.installed,
        "fixed": hit.fixed,
        "advisory": hit.advisory,
    }


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
