"""Repository and tag glob patterns."""

from __future__ import annotations

import pytest

from dockyard.core.patterns import PatternError, matches, validate_pattern


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        ("team-a/*", "team-a/web", True),
        ("team-a/*", "team-a/x/y", False),
        ("team-a/**", "team-a/x/y", True),
        ("team-a/**", "team-a", False),
        ("**", "anything/at/all", True),
        ("*/web", "team-b/web", True),
        ("v*", "v1.2.3", True),
        ("v*", "latest", False),
        ("v?", "v1", True),
        ("v?", "v10", False),
        ("{latest,stable}", "stable", True),
        ("{latest,stable}", "lates", False),
        ("release-{1,2}.*", "release-2.9", True),
        ("a.b", "axb", False),  # dots are literal
        ("lib+", "lib+", True),
    ],
)
def test_matches(pattern: str, name: str, expected: bool) -> None:
    assert matches(pattern, name) is expected


@pytest.mark.parametrize("pattern", ["", "{a,b", "a}", "x" * 600])
def test_invalid_patterns(pattern: str) -> None:
    with pytest.raises(PatternError):
        validate_pattern(pattern)
