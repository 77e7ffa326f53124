"""Counting findings per image (severity by severity) for the summaries in ``vuln_images``.

After an import only images holding a package whose matches changed can have other counts:
those are counted again (their ids found through the package index); when that is most
images, every image is counted in one pass instead (matches tallied per package first, then
spread over the images holding each package).
"""

from __future__ import annotations

from collections.abc import Sequence

from dockyard.core.vulns.severity import SEVERITIES
from dockyard.persistence.sql.session import Row, Session, chunks, placeholders

Counts = tuple[int, int, int, int, int]  # critical, high, medium, low, unknown
# CROSS JOIN keeps SQLite in that order: the few per-package rows drive the package index.
_TALLY_ALL = """
SELECT ip.image_id, pc.severity, SUM(pc.n) FROM
(SELECT package_id, severity, COUNT(*) AS n FROM vuln_matches GROUP BY package_id, severity) pc
CROSS JOIN vuln_image_packages ip WHERE ip.package_id = pc.package_id
GROUP BY ip.image_id, pc.severity
"""
_TALLY_IDS = """
SELECT ip.image_id, m.severity, COUNT(*) FROM vuln_image_packages ip
JOIN vuln_matches m ON m.package_id = ip.package_id
WHERE ip.image_id IN ({marks}) GROUP BY ip.image_id, m.severity
"""
_HOLDING = "SELECT DISTINCT image_id FROM vuln_image_packages WHERE package_id IN ({marks})"
STORED = """
SELECT i.id, i.digest, i.critical, i.high, i.medium, i.low, i.unknown FROM vuln_images i
"""


def counts_of(values: Sequence[object]) -> Counts:
    numbers = [int(str(v)) for v in values]
    return numbers[0], numbers[1], numbers[2], numbers[3], numbers[4]


def tallies_of(rows: Sequence[Row]) -> dict[int, Counts]:
    """(image id, severity, count) rows as counts per image id."""
    found: dict[int, list[int]] = {}
    for image_id, severity, count in rows:
        slot = SEVERITIES.index(str(severity)) if str(severity) in SEVERITIES else 4
        found.setdefault(int(str(image_id)), [0] * 5)[slot] += int(str(count))
    return {key: counts_of(value) for key, value in found.items()}


async def _holding(session: Session, packages: Sequence[int], limit: int) -> list[int] | None:
    """The images holding any of ``packages``; None as soon as there are more than ``limit``."""
    found: set[int] = set()
    for part in chunks([str(p) for p in packages]):
        sql = _HOLDING.format(marks=placeholders(len(part)))
        found.update(int(r[0]) for r in await session.fetchall(sql, [int(p) for p in part]))
        if len(found) > limit:
            return None
    return sorted(found)


async def counted(
    session: Session, packages: Sequence[int] | None
) -> tuple[dict[int, Counts], list[Row]]:
    """(new counts per image id, stored rows of the images that may have changed)."""
    if packages is not None:
        total = await session.fetchone("SELECT COUNT(*) FROM vuln_images")
        ids = await _holding(session, packages, int(total[0] if total else 0) // 2)
        if ids is not None:
            tallies: dict[int, Counts] = {}
            stored: list[Row] = []
            for part in chunks([str(i) for i in ids]):
                marks, values = placeholders(len(part)), [int(i) for i in part]
                rows = await session.fetchall(_TALLY_IDS.format(marks=marks), values)
                tallies.update(tallies_of(rows))
                stored += await session.fetchall(f"{STORED} WHERE i.id IN ({marks})", values)
            return tallies, stored
    tallies = tallies_of(await session.fetchall(_TALLY_ALL))
    return tallies, await session.fetchall(STORED)
