"""What a replication policy selects and accepts: globs, regexes, semver ranges, platforms,
name mapping, and the policies refused."""

from __future__ import annotations

import pytest

from dockyard.core.errors import RegistryError
from dockyard.services.replication.filters import (
    FilterError,
    check_patterns,
    is_literal,
    platform_wanted,
    selected,
)
from dockyard.services.replication.policy import Policy, check, destination


@pytest.mark.parametrize(
    ("patterns", "name", "expected"),
    [
        ([], "anything/at/all", True),
        (["library/*"], "library/alpine", True),
        (["library/*"], "library/x/y", False),  # * stays within one path segment
        (["library/**"], "library/x/y", True),
        (["regex:team-(a|b)/.*"], "team-b/api", True),
        (["regex:team-(a|b)/.*"], "team-c/api", False),
        (["**", "!tmp/**"], "tmp/scratch", False),
        (["**", "!tmp/**"], "apps/web", True),
        (["app?"], "apps", True),
    ],
)
def test_repository_patterns(patterns: list[str], name: str, expected: bool) -> None:
    assert selected(patterns, name) is expected


@pytest.mark.parametrize(
    ("patterns", "tag", "expected"),
    [
        (["semver:^1.2"], "1.4.0", True),
        (["semver:^1.2"], "v1.2.3", True),  # a leading v is a version too
        (["semver:^1.2"], "2.0.0", False),
        (["semver:>=1.0 <2"], "1.9.9", True),
        (["semver:^1"], "latest", False),  # not a version: never in a range
        (["semver:~1.2.0", "latest"], "latest", True),
        (["v*", "!*-rc*"], "v1.0-rc1", False),
    ],
)
def test_tag_patterns(patterns: list[str], tag: str, expected: bool) -> None:
    assert selected(patterns, tag, versions=True) is expected


@pytest.mark.parametrize(
    ("patterns", "versions"),
    [(["regex:("], True), (["semver:((nope"], True), (["semver:^1"], False), ([""], False)],
)
def test_bad_patterns_are_refused(patterns: list[str], versions: bool) -> None:
    with pytest.raises(FilterError):
        check_patterns(patterns, versions=versions)


def test_literal_patterns_need_no_catalog() -> None:
    assert is_literal("library/alpine")
    assert not is_literal("library/*")
    assert not is_literal("regex:library/.*")


def test_platforms() -> None:
    amd64 = {"platform": {"os": "linux", "architecture": "amd64"}}
    arm = {"platform": {"os": "linux", "architecture": "arm", "variant": "v7"}}
    assert platform_wanted([], arm)
    assert platform_wanted(["linux/amd64"], amd64)
    assert not platform_wanted(["linux/amd64"], arm)
    assert platform_wanted(["linux/arm"], arm)  # any variant of it
    assert not platform_wanted(["linux/arm/v6"], arm)
    assert platform_wanted(["linux/amd64"], {"digest": "sha256:x"})  # no platform: rides along


def test_destination_names() -> None:
    base = Policy(name="p", url="http://peer.example")
    assert destination(base, "library/alpine") == "library/alpine"
    mapped = Policy(name="p", url="http://peer.example", strip="library/", prefix="hub/")
    assert destination(mapped, "library/alpine") == "hub/alpine"
    assert destination(mapped, "other/alpine") == "hub/other/alpine"
    shouting = Policy(name="p", url="http://peer.example", prefix="Hub")
    with pytest.raises(RegistryError):
        destination(shouting, "x")


@pytest.mark.parametrize(
    "fields",
    [
        {"url": "ftp://peer.example"},
        {"url": "http://peer.example/v2"},
        {"url": "http://u:p@peer.example"},
        {"name": ""},
        {"name": "a b"},
        {"platforms": ["linux"]},
        {"direction": "pull", "on_push": True},
        {"interval_seconds": 1},
        {"parallel": 0},
        {"parallel": 33},
        {"bandwidth": -1},
        {"chunk_bytes": 10},
        {"tags": ["regex:["]},
    ],
)
def test_policies_refused(fields: dict[str, object]) -> None:
    values: dict[str, object] = {"name": "p", "url": "http://peer.example", **fields}
    with pytest.raises(RegistryError) as refused:
        check(Policy(**values))  # type: ignore[arg-type]
    assert refused.value.code.value_name == "BAD_REQUEST"
