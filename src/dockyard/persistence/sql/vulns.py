"""Scanned images and their findings: an image's packages (``vuln_image_packages`` over the
distinct ``vuln_packages``), which package versions advisories affect (``vuln_matches``), and
per image the summary counts with the database version it was judged with (``vuln_images``).

Findings are joins of these tables; a summary that changes is saved with its event
(``vulnerability.found`` when findings appeared, ``vulnerability.resolved`` when only fewer
remain) in the same transaction, one per repository holding a manifest judged by the image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dockyard.core.events import EventKind, EventOrigin, EventTarget
from dockyard.core.vulns.severity import SEVERITIES
from dockyard.persistence.sql.outbox import emit
from dockyard.persistence.sql.session import IN_LIST_CHUNK, Database, Session, placeholders
from dockyard.persistence.sql.vuln_counts import STORED, Counts, counted, counts_of, tallies_of

Match = tuple[int, str, str, str]  # package id, advisory id, fixed version, severity
_COUNTS = "i.critical, i.high, i.medium, i.low, i.unknown"
_NO_FINDINGS: Counts = (0, 0, 0, 0, 0)
_SAVE_PACKAGE = """
INSERT INTO vuln_packages(ecosystem, name, version, source) VALUES (?, ?, ?, ?)
ON CONFLICT DO NOTHING
"""
_PACKAGE_ID = "SELECT id FROM vuln_packages WHERE ecosystem = ? AND name = ? AND version = ?"
_SAVE_IMAGE = """
INSERT INTO vuln_images(digest, scanned_at, db_version) VALUES (?, ?, ?)
ON CONFLICT (digest) DO UPDATE SET scanned_at = excluded.scanned_at
"""
_SAVE_SUBJECT = """
INSERT INTO vuln_subjects(subject_digest, image_digest, platform) VALUES (?, ?, ?)
ON CONFLICT DO NOTHING
"""
_ADD_MATCH = """
INSERT INTO vuln_matches(package_id, advisory_id, fixed, severity) VALUES (?, ?, ?, ?)
ON CONFLICT DO NOTHING
"""
# A few images (a scan): from their packages to the matches.
_TALLY_SOME = """
SELECT ip.image_id, m.severity, COUNT(*) FROM vuln_images i
JOIN vuln_image_packages ip ON ip.image_id = i.id
JOIN vuln_matches m ON m.package_id = ip.package_id
WHERE i.digest IN ({marks}) GROUP BY ip.image_id, m.severity
"""
_DELETE_MATCH = "DELETE FROM vuln_matches WHERE package_id = ? AND advisory_id = ?"
_SET_COUNTS = """
UPDATE vuln_images SET critical = ?, high = ?, medium = ?, low = ?, unknown = ? WHERE id = ?
"""
_FINDINGS = """
SELECT p.ecosystem, p.name, p.version, m.fixed, a.id, a.severity, a.cvss_score, a.cvss_vector,
    a.aliases, a.summary
FROM vuln_images i JOIN vuln_image_packages ip ON ip.image_id = i.id
JOIN vuln_packages p ON p.id = ip.package_id
JOIN vuln_matches m ON m.package_id = p.id
JOIN vuln_advisories a ON a.id = m.advisory_id
WHERE i.digest = ? ORDER BY p.ecosystem, p.name, p.version, a.id
"""
_SUMMARIES = """
SELECT s.subject_digest, s.image_digest, s.platform, i.scanned_at, i.db_version,
    i.critical, i.high, i.medium, i.low, i.unknown
FROM vuln_subjects s JOIN vuln_images i ON i.digest = s.image_digest
"""
_HOLDERS = """
SELECT DISTINCT s.image_digest, r.name, m.digest FROM vuln_subjects s
JOIN manifests m ON m.digest = s.subject_digest
JOIN repositories r ON r.id = m.repository_id
"""
_SEARCH = """
SELECT DISTINCT r.name, s.subject_digest, s.platform, s.image_digest, p.ecosystem, p.name,
    p.version, m.fixed, a.id
FROM vuln_matches m JOIN vuln_advisories a ON a.id = m.advisory_id
JOIN vuln_packages p ON p.id = m.package_id
JOIN vuln_image_packages ip ON ip.package_id = m.package_id
JOIN vuln_images i ON i.id = ip.image_id
JOIN vuln_subjects s ON s.image_digest = i.digest
JOIN manifests mf ON mf.digest = s.subject_digest
JOIN repositories r ON r.id = mf.repository_id
WHERE m.advisory_id IN (SELECT id FROM vuln_advisories WHERE id = ?
                        UNION SELECT advisory_id FROM vuln_aliases WHERE alias = ?)
ORDER BY r.name, s.subject_digest, s.platform LIMIT ?
"""


@dataclass(frozen=True, slots=True)
class ScannedImage:
    """One image manifest (a platform of an index) and its packages."""

    digest: str
    platform: str
    packages: frozenset[tuple[str, str, str, str]]  # (ecosystem, name, version, source)


@dataclass(frozen=True, slots=True)
class Finding:
    ecosystem: str
    package: str
    installed: str
    fixed: str
    advisory: str
    severity: str
    cvss_score: float | None
    cvss_vector: str
    aliases: tuple[str, ...]
    summary: str


@dataclass(frozen=True, slots=True)
class ImageSummary:
    subject: str  # the digest scanned (an image or an index)
    image: str  # the image manifest judged (the subject, or one platform of the index)
    platform: str
    scanned_at: float
    db_version: str
    counts: Counts

    def by_severity(self) -> dict[str, int]:
        return dict(zip(SEVERITIES, self.counts, strict=True))


@dataclass(frozen=True, slots=True)
class SearchHit:
    repository: str
    subject: str
    platform: str
    image: str
    ecosystem: str
    package: str
    installed: str
    fixed: str
    advisory: str


@dataclass(frozen=True, slots=True)
class SummaryChange:
    image: str
    before: Counts
    after: Counts


def _summary(row: tuple[object, ...]) -> ImageSummary:
    counts = tuple(int(str(v)) for v in row[5:10])
    return ImageSummary(
        str(row[0]), str(row[1]), str(row[2]), float(str(row[3])), str(row[4]),
        (counts[0], counts[1], counts[2], counts[3], counts[4]),
    )  # fmt: skip


def _kind(before: Counts, after: Counts) -> EventKind:
    grew = any(a > b for a, b in zip(after, before, strict=True))
    return EventKind.VULNERABILITY_FOUND if grew else EventKind.VULNERABILITY_RESOLVED


async def _holders(session: Session, images: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
    """Per image digest: the (repository, manifest digest) pairs that hold it."""
    rows: list[tuple[object, ...]] = []
    if len(images) <= IN_LIST_CHUNK:
        where = f" WHERE s.image_digest IN ({placeholders(len(images))})"
        rows = await session.fetchall(_HOLDERS + where, tuple(images))
    else:  # after an import: every judged image, one query
        rows = await session.fetchall(_HOLDERS)
    found: dict[str, list[tuple[str, str]]] = {}
    for image, repository, subject in rows:
        found.setdefault(str(image), []).append((str(repository), str(subject)))
    return found


async def _announce(
    session: Session, changes: Sequence[SummaryChange], db_version: str, origin: EventOrigin
) -> None:
    holders = await _holders(session, [c.image for c in changes])
    for change in changes:
        detail: dict[str, str | int | float | bool] = dict(
            zip(SEVERITIES, change.after, strict=True)
        )
        detail["database"] = db_version
        detail["image"] = change.image
        kind = _kind(change.before, change.after)
        for repository, subject in holders.get(change.image, ()):
            await emit(session, origin, kind, repository, EventTarget(subject, detail=detail))


async def _save_image(session: Session, image: ScannedImage, now: float) -> list[int]:
    await session.execute(_SAVE_IMAGE, (image.digest, now, ""))
    row = await session.fetchone("SELECT id FROM vuln_images WHERE digest = ?", (image.digest,))
    assert row is not None  # just written
    image_id = int(row[0])
    await session.execute("DELETE FROM vuln_image_packages WHERE image_id = ?", (image_id,))
    packages = sorted(image.packages)
    if packages:
        await session.executemany(_SAVE_PACKAGE, packages)
    ids = []
    for package in packages:
        found = await session.fetchone(_PACKAGE_ID, package[:3])
        assert found is not None  # just written
        ids.append(int(found[0]))
    if ids:
        links = [(image_id, package_id) for package_id in ids]
        await session.executemany(
            "INSERT INTO vuln_image_packages(image_id, package_id) VALUES (?, ?)", links
        )
    return ids


class SqlVulnFindings:
    def __init__(self, database: Database) -> None:
        self.db = database

    async def save_images(
        self, subject: str, images: Sequence[ScannedImage], now: float
    ) -> list[int]:
        """Record what ``subject`` (an image, or an index) consists of: each image with its
        packages (replacing what was recorded for it). Returns the ids of their packages."""

        async def work(session: Session) -> list[int]:
            await session.execute("DELETE FROM vuln_subjects WHERE subject_digest = ?", (subject,))
            ids: set[int] = set()
            for image in images:
                ids.update(await _save_image(session, image, now))
                await session.execute(_SAVE_SUBJECT, (subject, image.digest, image.platform))
            return sorted(ids)

        return await self.db.transaction(work)

    async def add_matches(self, rows: Sequence[Match]) -> None:
        """Record (package id, advisory id, fixed version) matches; known ones stay."""
        if rows:
            await self.db.executemany(_ADD_MATCH, rows)

    async def replace_matches(self, rows: Sequence[Match]) -> list[int]:
        """All matches at once (after an import), in one transaction: only the difference
        is written. Returns the ids of the packages whose matches changed."""

        async def work(session: Session) -> list[int]:
            stored = await session.fetchall(
                "SELECT package_id, advisory_id, fixed, severity FROM vuln_matches"
            )
            existing = {(int(r[0]), str(r[1])): (str(r[2]), str(r[3])) for r in stored}
            wanted = {(r[0], r[1]): (r[2], r[3]) for r in rows}
            gone = [key for key, value in existing.items() if wanted.get(key) != value]
            added = [(*key, *value) for key, value in wanted.items() if existing.get(key) != value]
            if gone:
                await session.executemany(_DELETE_MATCH, gone)
            if added:
                await session.executemany(_ADD_MATCH, added)
            return sorted({key[0] for key in gone} | {int(row[0]) for row in added})

        return await self.db.transaction(work)

    async def refresh(
        self,
        db_version: str,
        now: float,
        origin: EventOrigin | None,
        images: Sequence[str] | None = None,
        packages: Sequence[int] | None = None,
    ) -> list[SummaryChange]:
        """Count findings again and save the counts, and for every image (or those digests)
        the scan time and database version; announce the images whose counts changed.
        ``packages``: only images holding one of them can have changed (after an import:
        the packages whose matches changed), the others are not counted again."""

        async def work(session: Session) -> list[SummaryChange]:
            params = tuple(images) if images is not None else ()
            marks = placeholders(len(params))
            if images is not None:
                tallies = tallies_of(
                    await session.fetchall(_TALLY_SOME.format(marks=marks), params)
                )
                stored = await session.fetchall(f"{STORED} WHERE i.digest IN ({marks})", params)
            else:
                tallies, stored = await counted(session, packages)
            changes, updates = [], []
            for row in stored:
                before = counts_of(row[2:7])
                after = tallies.get(int(row[0]), _NO_FINDINGS)
                if before != after:
                    updates.append((*after, int(row[0])))
                    changes.append(SummaryChange(str(row[1]), before, after))
            if updates:
                await session.executemany(_SET_COUNTS, updates)
            if changes and origin is not None:
                await _announce(session, changes, db_version, origin)
            update = "UPDATE vuln_images SET scanned_at = ?, db_version = ?"
            if images is not None:
                update += f" WHERE digest IN ({marks})"
            await session.execute(update, (now, db_version, *params))
            return changes

        return await self.db.transaction(work)

    async def prune(self) -> int:
        """Forget scans of manifests no repository holds any more; the number of images."""

        async def work(session: Session) -> int:
            await session.execute(
                "DELETE FROM vuln_subjects WHERE subject_digest NOT IN "
                "(SELECT digest FROM manifests)"
            )
            return await session.execute(
                "DELETE FROM vuln_images WHERE digest NOT IN "
                "(SELECT image_digest FROM vuln_subjects)"
            )

        return await self.db.transaction(work)

    async def findings(self, image: str) -> list[Finding]:
        rows = await self.db.fetchall(_FINDINGS, (image,))
        return [
            Finding(
                str(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]), str(r[5]),
                None if r[6] is None else float(r[6]), str(r[7]),
                tuple(str(r[8]).split()), str(r[9]),
            )
            for r in rows
        ]  # fmt: skip

    async def summaries(self, digest: str) -> list[ImageSummary]:
        """How ``digest`` was judged: per platform for an index, or as one image (also when
        it is a platform of a scanned index)."""
        rows = await self.db.fetchall(
            _SUMMARIES + " WHERE s.subject_digest = ? OR s.image_digest = ?"
            " ORDER BY s.platform, s.image_digest", (digest, digest),
        )  # fmt: skip
        found = [_summary(r) for r in rows]
        own = [s for s in found if s.subject == digest]
        return own or found[:1]

    async def repository_summaries(self, repository: str) -> list[ImageSummary]:
        rows = await self.db.fetchall(
            _SUMMARIES + " JOIN manifests m ON m.digest = s.subject_digest"
            " JOIN repositories r ON r.id = m.repository_id WHERE r.name = ?"
            " ORDER BY s.subject_digest, s.platform", (repository,),
        )  # fmt: skip
        return [_summary(r) for r in rows]

    async def search(self, advisory: str, limit: int) -> list[SearchHit]:
        """Where the advisory (its id or an alias such as a CVE id) was found."""
        rows = await self.db.fetchall(_SEARCH, (advisory, advisory, limit))
        return [SearchHit(*(str(v) for v in r)) for r in rows]

    async def totals(self) -> tuple[int, Counts]:
        """(images judged, findings by severity over all of them)."""
        row = await self.db.fetchone(
            "SELECT COUNT(*), SUM(critical), SUM(high), SUM(medium), SUM(low), SUM(unknown) "
            "FROM vuln_images"
        )
        values = [int(v or 0) for v in (row or (0,) * 6)]
        return values[0], (values[1], values[2], values[3], values[4], values[5])

    async def image_count(self) -> int:
        row = await self.db.fetchone("SELECT COUNT(*) FROM vuln_images")
        return int(row[0]) if row is not None else 0
