"""The vulnerability database: imported advisories (``vuln_advisories``, ``vuln_aliases``,
``vuln_affected``) and the one row saying which database is loaded (``vulndb_state``).

An import is one transaction: records whose ``modified`` did not change are left alone,
changed ones replaced, withdrawn ones removed, then the database version is computed again
(a digest of every advisory's id and ``modified``), so importing the same data twice changes
nothing, and any change gives a new version.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import msgspec

from dockyard.core.vulns.osv import Advisory, Affected, VersionRange
from dockyard.persistence.sql.session import Database, Session, chunks, placeholders

_INSERT_ADVISORY = """
INSERT INTO vuln_advisories(id, modified, published, summary, severity, cvss_score,
    cvss_vector, aliases) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
"""
_INSERT_ALIAS = "INSERT INTO vuln_aliases(alias, advisory_id) VALUES (?, ?) ON CONFLICT DO NOTHING"
_INSERT_AFFECTED = """
INSERT INTO vuln_affected(advisory_id, ecosystem, release, name, ranges, versions)
VALUES (?, ?, ?, ?, ?, ?)
"""
_SAVE_STATE = """
INSERT INTO vulndb_state(id, version, updated, imported_at, advisories) VALUES (1, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET version = excluded.version, updated = excluded.updated,
    imported_at = excluded.imported_at, advisories = excluded.advisories
"""
_COLUMNS = """
SELECT p.id, p.version, f.id, f.advisory_id, f.ecosystem, f.release, f.name, f.ranges,
    f.versions, a.severity
"""
# by the package's own name, and by its source package's name (never both for one row)
_BY_NAME = """
FROM vuln_packages p JOIN vuln_affected f ON f.ecosystem = p.ecosystem AND f.name = p.name
JOIN vuln_advisories a ON a.id = f.advisory_id
"""
_BY_SOURCE = """
FROM vuln_packages p JOIN vuln_affected f ON f.ecosystem = p.ecosystem AND f.name = p.source
JOIN vuln_advisories a ON a.id = f.advisory_id
"""

_Events = list[tuple[str, str]]
_RangesWire = list[tuple[str, _Events]]


@dataclass(frozen=True, slots=True)
class DbState:
    version: str  # "" before the first import
    updated: str  # the newest ``modified`` among the advisories (RFC 3339)
    imported_at: float
    advisories: int


@dataclass(frozen=True, slots=True)
class ImportCounts:
    added: int
    updated: int
    removed: int
    unchanged: int
    state: DbState
    changed: bool  # the database version moved
    touched: tuple[int, ...] = ()  # packages that matched an advisory replaced or removed


@dataclass(frozen=True, slots=True)
class Candidate:
    """A stored package version and an advisory entry for the same (ecosystem, name)."""

    package_id: int
    version: str
    advisory_id: str
    affected: Affected
    severity: str


def _ranges_json(affected: Affected) -> str:
    return msgspec.json.encode([(r.kind, list(r.events)) for r in affected.ranges]).decode()


def _affected(row: tuple[object, ...]) -> Affected:
    wire = msgspec.json.decode(str(row[7]), type=_RangesWire)
    ranges = tuple(VersionRange(kind, tuple(events)) for kind, events in wire)
    versions = tuple(msgspec.json.decode(str(row[8]), type=list[str]))
    return Affected(str(row[4]), str(row[5]), str(row[6]), ranges, versions)


async def _insert(session: Session, advisories: Sequence[Advisory]) -> None:
    """All of them in three batched statements (a round trip each per batch, not per row)."""
    rows, aliases, affected = [], [], []
    for advisory in advisories:
        severity = advisory.severity
        rows.append(
            (advisory.id, advisory.modified, advisory.published, advisory.summary,
             severity.label, severity.score, severity.vector, " ".join(advisory.aliases))
        )  # fmt: skip
        aliases += [(alias, advisory.id) for alias in advisory.aliases]
        affected += [
            (advisory.id, a.ecosystem, a.release, a.name, _ranges_json(a),
             msgspec.json.encode(list(a.versions)).decode())
            for a in advisory.affected
        ]  # fmt: skip
    for sql, values in ((_INSERT_ADVISORY, rows), (_INSERT_ALIAS, aliases),
                        (_INSERT_AFFECTED, affected)):  # fmt: skip
        if values:
            await session.executemany(sql, values)


async def _delete(session: Session, ids: Sequence[str]) -> None:
    for part in chunks(ids):
        marks = placeholders(len(part))
        await session.execute(f"DELETE FROM vuln_advisories WHERE id IN ({marks})", part)  # noqa: S608


async def _matched_packages(session: Session, ids: Sequence[str]) -> tuple[int, ...]:
    """Packages matched by these advisories (their matches go with them, by cascade)."""
    found: set[int] = set()
    for part in chunks(ids):
        sql = (
            f"SELECT package_id FROM vuln_matches WHERE advisory_id IN ({placeholders(len(part))})"  # noqa: S608
        )
        found.update(int(r[0]) for r in await session.fetchall(sql, part))
    return tuple(sorted(found))


async def _state(session: Session, now: float) -> DbState:
    rows = await session.fetchall("SELECT id, modified FROM vuln_advisories ORDER BY id")
    digest = hashlib.sha256()
    for advisory_id, modified in rows:
        digest.update(f"{advisory_id}\t{modified}\n".encode())
    updated = max((str(r[1]) for r in rows), default="")
    return DbState(digest.hexdigest()[:16], updated, now, len(rows))


class SqlVulnDb:
    def __init__(self, database: Database) -> None:
        self.db = database

    async def state(self) -> DbState | None:
        """The loaded database; None before the first import."""
        row = await self.db.fetchone(
            "SELECT version, updated, imported_at, advisories FROM vulndb_state WHERE id = 1"
        )
        if row is None:
            return None
        return DbState(str(row[0]), str(row[1]), float(row[2]), int(row[3]))

    async def apply(self, advisories: Sequence[Advisory], now: float) -> ImportCounts:
        """Store ``advisories`` (newer ones replace, withdrawn ones go), in one transaction;
        when an id comes twice, the last one counts."""
        advisories = list({a.id: a for a in advisories}.values())

        async def work(session: Session) -> ImportCounts:
            previous = await session.fetchone("SELECT version FROM vulndb_state WHERE id = 1")
            rows = await session.fetchall("SELECT id, modified FROM vuln_advisories")
            stored = {str(r[0]): str(r[1]) for r in rows}
            gone = [a.id for a in advisories if a.withdrawn and a.id in stored]
            fresh = [a for a in advisories if not a.withdrawn and stored.get(a.id) != a.modified]
            replaced = [a.id for a in fresh if a.id in stored]
            touched = await _matched_packages(session, gone + replaced)
            await _delete(session, gone + replaced)
            await _insert(session, fresh)
            state = await _state(session, now)
            await session.execute(
                _SAVE_STATE, (state.version, state.updated, now, state.advisories)
            )
            unchanged = len(advisories) - len(fresh) - len(gone)
            moved = previous is None or str(previous[0]) != state.version
            return ImportCounts(
                len(fresh) - len(replaced),
                len(replaced),
                len(gone),
                unchanged,
                state,
                moved,
                touched,
            )

        return await self.db.transaction(work)

    async def candidates(self, package_ids: Sequence[int] | None = None) -> list[Candidate]:
        """Stored package versions with the advisory entries naming their package: all of
        them, or those of ``package_ids``."""
        rows = []
        for joined in (_BY_NAME, _BY_SOURCE + " WHERE p.source <> ''"):
            query = _COLUMNS + joined
            if package_ids is None:
                rows += await self.db.fetchall(query)
                continue
            glue = " AND" if "WHERE" in joined else " WHERE"
            for part in chunks([str(i) for i in package_ids]):
                where = f"{glue} p.id IN ({placeholders(len(part))})"
                rows += await self.db.fetchall(query + where, [int(i) for i in part])
        cache: dict[int, Affected] = {}
        found = []
        for row in rows:
            affected_id = int(row[2])
            affected = cache.get(affected_id)
            if affected is None:
                affected = cache[affected_id] = _affected(row)
            found.append(Candidate(int(row[0]), str(row[1]), str(row[3]), affected, str(row[9])))
        return found
