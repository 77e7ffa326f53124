"""Is an installed version inside an advisory's affected ranges? Compared per ecosystem with
``univers`` (Debian, RPM and Alpine ordering; semver for npm and Go; PEP 440 for PyPI).

The ranges are evaluated as the OSV schema describes: a range's events sorted by version,
``introduced`` makes the versions from it on vulnerable, ``fixed`` (and ``limit``) end that
from the fixed version on, ``last_affected`` after it; ``introduced: "0"`` is the lowest
version. A version that cannot be parsed in its ecosystem matches only the versions the
advisory lists one by one (exact spelling); never a range.

Only ``<``, ``>`` and ``==`` are used on univers versions: its Alpine (Gentoo) scheme defines
those three and inherits ``<=``/``>=`` that compare the raw strings (``3.1.4-r10 >= 3.1.4-r5``
is False there).
"""

from __future__ import annotations

from functools import lru_cache

from univers.versions import (
    AlpineLinuxVersion,
    DebianVersion,
    GolangVersion,
    InvalidVersion,
    PypiVersion,
    RpmVersion,
    SemverVersion,
    Version,
)

from dockyard.core.vulns.osv import Affected, VersionRange

_SCHEMES: dict[str, type[Version]] = {
    "deb": DebianVersion,
    "apk": AlpineLinuxVersion,
    "rpm": RpmVersion,
    "pypi": PypiVersion,
    "npm": SemverVersion,
    "golang": GolangVersion,
}
_ORDER = {"introduced": 0, "last_affected": 1, "fixed": 2, "limit": 2}


def supported(ecosystem: str) -> bool:
    return ecosystem in _SCHEMES


@lru_cache(maxsize=262_144)
def parse_version(ecosystem: str, text: str) -> Version | None:
    """The version in its ecosystem's scheme; None if it is not one (or unknown ecosystem).
    Go's toolchain is recorded as ``go1.22.1``: read as ``1.22.1``."""
    scheme = _SCHEMES.get(ecosystem)
    if scheme is None or not text:
        return None
    if ecosystem == "golang" and text.startswith("go"):
        text = text[2:]
    try:
        return scheme(text)
    except (InvalidVersion, ValueError, TypeError):
        return None


def _ends(kind: str, version: Version, bound: Version) -> bool:
    """Whether the event ``kind`` at ``bound`` ends the vulnerable span for ``version``."""
    if kind == "last_affected":
        return bool(version > bound)
    return kind in ("fixed", "limit") and not bool(version < bound)


def _in_range(ecosystem: str, version: Version, events: tuple[tuple[str, str], ...]) -> bool:
    keyed: list[tuple[Version | None, str]] = []
    for kind, text in events:
        if kind == "introduced" and text == "0":
            keyed.append((None, kind))
            continue
        parsed = parse_version(ecosystem, text)
        if parsed is not None:
            keyed.append((parsed, kind))
    keyed.sort(key=lambda e: (e[0] is not None, e[0] or version, _ORDER[e[1]]))
    vulnerable = False
    for bound, kind in keyed:
        if kind == "introduced" and (bound is None or not version < bound):
            vulnerable = True
        elif bound is not None and _ends(kind, version, bound):
            vulnerable = False
    return vulnerable


def in_ranges(ecosystem: str, installed: str, ranges: tuple[VersionRange, ...]) -> bool:
    version = parse_version(ecosystem, installed)
    if version is None:
        return False
    return any(_in_range(ecosystem, version, r.events) for r in ranges)


def is_affected(installed: str, affected: Affected) -> bool:
    """Whether ``installed`` (a version of ``affected``'s package) is affected."""
    if installed in affected.versions:
        return True
    return in_ranges(affected.ecosystem, installed, affected.ranges)


def fixed_after(installed: str, affected: Affected) -> str:
    """The lowest fixed version above ``installed`` (what to upgrade to), or ""."""
    version = parse_version(affected.ecosystem, installed)
    candidates = []
    for text in affected.fixed:
        parsed = parse_version(affected.ecosystem, text)
        if parsed is not None and (version is None or parsed > version):
            candidates.append((parsed, text))
    return min(candidates)[1] if candidates else ""
