"""OSV records read into advisories, severities from CVSS vectors and labels, and version
ranges evaluated per ecosystem (univers): pure logic, no I/O."""

from __future__ import annotations

import pytest

from dockyard.core.vulns.osv import InvalidRecordError, parse
from dockyard.core.vulns.severity import from_vectors, label_of_score
from dockyard.core.vulns.versions import fixed_after, is_affected
from support.osv import CRITICAL_V3, MEDIUM_V3, encode, record


def affected(ecosystem: str, name: str, **kwargs: object) -> object:
    return parse(encode(record("X-1", ecosystem, name, **kwargs))).affected[0]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("ecosystem", "fixed", "below", "at_or_above"),
    [
        ("Debian:12", "1:1.2.13.dfsg-1", "1:1.2.11.dfsg-2+deb11u2", "1:1.2.13.dfsg-1+b1"),
        ("Debian", "2.36-9+deb12u4", "2.36-9+deb12u3", "2.36-9+deb12u10"),  # not string order
        ("Alpine:v3.19", "3.1.4-r5", "3.1.4-r1", "3.1.4-r10"),
        ("Red Hat", "1:3.0.7-25.el9", "1:3.0.7-6.el9", "1:3.0.7-27.el9"),
        ("Rocky Linux:9", "2.34-100.el9", "2.34-60.el9", "2.34-100.el9_4.2"),
        ("PyPI", "2.31.0", "2.31.0rc1", "2.31.0.post1"),
        ("npm", "4.17.21", "4.17.21-beta.1", "4.17.100"),
        ("Go", "0.17.0", "v0.9.0", "v0.17.0"),
    ],
)
def test_fixed_versions_end_the_range_in_each_ecosystem_order(
    ecosystem: str, fixed: str, below: str, at_or_above: str
) -> None:
    entry = affected(ecosystem, "pkg", fixed=fixed)
    assert is_affected(below, entry)  # type: ignore[arg-type]
    assert not is_affected(at_or_above, entry)  # type: ignore[arg-type]
    assert fixed_after(below, entry) == fixed  # type: ignore[arg-type]


def test_introduced_last_affected_and_listed_versions() -> None:
    entry = affected("PyPI", "Some_Thing", introduced="1.2", last_affected="1.4")
    assert entry.name == "some-thing"  # type: ignore[attr-defined]  # PEP 503
    assert [is_affected(v, entry) for v in ("1.1", "1.2", "1.4", "1.4.1")] == [  # type: ignore[arg-type]
        False, True, True, False,
    ]  # fmt: skip
    listed = affected("npm", "left-pad", introduced="9.0.0", versions=["1.0.0"])
    assert is_affected("1.0.0", listed)  # type: ignore[arg-type]
    assert not is_affected("1.0.1", listed)  # type: ignore[arg-type]


def test_go_toolchain_versions_and_unparseable_versions() -> None:
    stdlib = affected("Go", "stdlib", introduced="1.21.0", fixed="1.21.8", kind="SEMVER")
    assert is_affected("go1.21.3", stdlib)  # type: ignore[arg-type]
    assert not is_affected("go1.22.0", stdlib)  # type: ignore[arg-type]
    assert not is_affected("not a version at all!", affected("Debian", "x", fixed="1.0"))  # type: ignore[arg-type]


def test_severity_from_vectors_then_labels() -> None:
    assert from_vectors([("CVSS_V3", CRITICAL_V3)]).label == "critical"
    assert from_vectors([("CVSS_V3", CRITICAL_V3)]).score == 9.8
    assert from_vectors([("CVSS_V3", MEDIUM_V3)]).label == "medium"
    assert from_vectors([("CVSS_V3", "garbage")], "MODERATE").label == "medium"
    assert from_vectors([], "").label == "unknown"
    v4 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"
    assert from_vectors([("CVSS_V4", v4)]).label == "critical"
    assert label_of_score(7.0) == "high"


def test_records_are_read_with_aliases_and_withdrawal() -> None:
    raw = record("GHSA-aaaa", "PyPI", "jinja2", fixed="3.1.3", aliases=["CVE-2024-22195"],
                 label="MODERATE", withdrawn="2026-02-01T00:00:00Z")  # fmt: skip
    advisory = parse(encode(raw))
    assert advisory.aliases == ("CVE-2024-22195",)
    assert advisory.withdrawn and advisory.severity.label == "medium"
    assert advisory.affected[0].fixed == ("3.1.3",)


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[]",
        encode({"modified": "2026-01-01T00:00:00Z"}),  # no id
        encode({"id": "../../etc", "modified": "2026-01-01T00:00:00Z"}),
        encode({"id": "X-1", "modified": "yesterday"}),
        encode({"id": "X-1", "modified": "2026-01-01T00:00:00Z", "affected": "nope"}),
    ],
)
def test_invalid_records_are_refused(raw: bytes) -> None:
    with pytest.raises(InvalidRecordError):
        parse(raw)


def test_other_ecosystems_and_git_ranges_are_left_out() -> None:
    raw = record("X-2", "crates.io", "serde", fixed="1.0.1")
    assert parse(encode(raw)).affected == ()
    git = record("X-3", "PyPI", "x", introduced="abc", fixed="def", kind="GIT")
    assert parse(encode(git)).affected == ()
