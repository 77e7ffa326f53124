"""OSV records (https://ossf.github.io/osv-schema/) read into :class:`Advisory` values.

Only what matching and reporting need is kept: the id, ``modified``, ``withdrawn``,
``aliases`` (CVE ids), a summary, the severity, and per affected package its ecosystem
(mapped to the inventory's: ``deb``, ``apk``, ``rpm``, ``pypi``, ``npm``, ``golang``), name,
``SEMVER``/``ECOSYSTEM`` ranges (``GIT`` ranges name commits, not versions: skipped), listed
versions and fixed versions. Packages of other ecosystems are left out; a record that is not
valid OSV raises :class:`InvalidRecordError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import msgspec

from dockyard.core.vulns.severity import Severity, from_vectors

MAX_TEXT = 1024  # a summary is cut there
MAX_ID = 128
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+-]*\Z")
# OSV ecosystem (the part before ":") -> inventory ecosystem
ECOSYSTEMS = {
    "Debian": "deb",
    "Ubuntu": "deb",
    "Alpine": "apk",
    "Wolfi": "apk",
    "Chainguard": "apk",
    "Red Hat": "rpm",
    "Rocky Linux": "rpm",
    "AlmaLinux": "rpm",
    "openEuler": "rpm",
    "openSUSE": "rpm",
    "SUSE": "rpm",
    "Mageia": "rpm",
    "PyPI": "pypi",
    "npm": "npm",
    "Go": "golang",
}
EVENTS = ("introduced", "fixed", "last_affected", "limit")


class InvalidRecordError(ValueError):
    """Not an OSV record we can use (the message says why)."""


class _Event(msgspec.Struct, frozen=True):
    introduced: str | None = None
    fixed: str | None = None
    last_affected: str | None = None
    limit: str | None = None


class _Range(msgspec.Struct, frozen=True):
    type: str
    events: list[_Event] = []


class _Package(msgspec.Struct, frozen=True):
    ecosystem: str = ""
    name: str = ""


class _SeverityEntry(msgspec.Struct, frozen=True):
    type: str = ""
    score: str = ""


class _Affected(msgspec.Struct, frozen=True):
    package: _Package | None = None
    ranges: list[_Range] = []
    versions: list[str] = []
    severity: list[_SeverityEntry] = []
    database_specific: dict[str, object] | None = None


class _Record(msgspec.Struct, frozen=True):
    id: str
    modified: str
    published: str = ""
    withdrawn: str | None = None
    aliases: list[str] = []
    summary: str = ""
    details: str = ""
    severity: list[_SeverityEntry] = []
    affected: list[_Affected] = []
    database_specific: dict[str, object] | None = None


@dataclass(frozen=True, slots=True)
class VersionRange:
    kind: str  # SEMVER | ECOSYSTEM
    events: tuple[tuple[str, str], ...]  # (introduced|fixed|last_affected|limit, version)


@dataclass(frozen=True, slots=True)
class Affected:
    ecosystem: str  # deb apk rpm pypi npm golang
    release: str  # the part after ":" in OSV's ecosystem ("12" of "Debian:12"), or ""
    name: str  # as the inventory spells it (PyPI names normalized)
    ranges: tuple[VersionRange, ...]
    versions: tuple[str, ...]  # versions listed one by one

    @property
    def fixed(self) -> tuple[str, ...]:
        found = (v for r in self.ranges for kind, v in r.events if kind == "fixed")
        return tuple(dict.fromkeys(found))


@dataclass(frozen=True, slots=True)
class Advisory:
    id: str
    modified: str  # RFC 3339, as the record says
    published: str
    withdrawn: bool
    aliases: tuple[str, ...]
    summary: str
    severity: Severity
    affected: tuple[Affected, ...]


def normalize_name(ecosystem: str, name: str) -> str:
    """The name as the inventory records it: PEP 503 for PyPI, unchanged otherwise."""
    if ecosystem == "pypi":
        return re.sub(r"[-_.]+", "-", name).lower()
    return name


def _timestamp(value: str, field: str) -> str:
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRecordError(f"{field} is not an RFC 3339 time: {value[:40]!r}") from None
    return value


def _range(raw: _Range) -> VersionRange | None:
    if raw.type not in ("SEMVER", "ECOSYSTEM"):
        return None
    events = []
    for event in raw.events:
        for kind in EVENTS:
            version = getattr(event, kind)
            if isinstance(version, str) and version:
                events.append((kind, version[:MAX_ID]))
    return VersionRange(raw.type, tuple(events)) if events else None


def _affected(raw: _Affected) -> Affected | None:
    if raw.package is None or not raw.package.name:
        return None
    family, _, release = raw.package.ecosystem.partition(":")
    ecosystem = ECOSYSTEMS.get(family)
    if ecosystem is None:
        return None
    ranges = tuple(r for r in map(_range, raw.ranges) if r is not None)
    versions = tuple(v[:MAX_ID] for v in raw.versions if v)
    if not ranges and not versions:
        return None
    name = normalize_name(ecosystem, raw.package.name)
    return Affected(ecosystem, release, name, ranges, versions)


def _label(record: _Record) -> str:
    sources = [record.database_specific] + [a.database_specific for a in record.affected]
    for source in sources:
        if source and isinstance(source.get("severity"), str):
            return str(source["severity"])
    return ""


def _severity(record: _Record) -> Severity:
    entries = record.severity or [s for a in record.affected for s in a.severity]
    return from_vectors([(s.type, s.score) for s in entries], _label(record))


def parse(raw: bytes) -> Advisory:
    """One OSV record (JSON) as an :class:`Advisory`."""
    try:
        record = msgspec.json.decode(raw, type=_Record)
    except msgspec.DecodeError as exc:
        raise InvalidRecordError(f"not an OSV record: {exc}") from None
    if not _ID.match(record.id) or len(record.id) > MAX_ID:
        raise InvalidRecordError(f"invalid id {record.id[:MAX_ID]!r}")
    summary = (record.summary or record.details.strip().split("\n", 1)[0])[:MAX_TEXT]
    aliases = tuple(a[:MAX_ID] for a in dict.fromkeys(record.aliases) if a and a != record.id)
    return Advisory(
        id=record.id,
        modified=_timestamp(record.modified, "modified"),
        published=_timestamp(record.published, "published") if record.published else "",
        withdrawn=record.withdrawn is not None,
        aliases=aliases,
        summary=summary,
        severity=_severity(record),
        affected=tuple(a for a in map(_affected, record.affected) if a is not None),
    )
