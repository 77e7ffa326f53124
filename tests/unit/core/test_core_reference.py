"""Repository name and tag grammar."""

from __future__ import annotations

import pytest

from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.core.reference import NAME_MAX_LENGTH, is_valid_tag, validate_name, validate_tag


@pytest.mark.parametrize(
    "name",
    [
        "a",
        "0",
        "ubuntu",
        "library/ubuntu",
        "a/b/c",
        "a.b_c__d-e",
        "a-b",
        "a--b",
        "a-----b",
        "my.registry/team_1/app__x/v2",
        "0a/1b/2c",
        "a" * NAME_MAX_LENGTH,
        "/".join(["ab"] * 85),  # 254 characters of components
    ],
)
def test_valid_names(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("", id="empty"),
        pytest.param("A", id="upper-case"),
        pytest.param("Library/ubuntu", id="upper-case-component"),
        pytest.param("library/Ubuntu", id="upper-case-second-component"),
        pytest.param("..", id="dot-dot"),
        pytest.param("a/../b", id="dot-dot-component"),
        pytest.param("a/./b", id="dot-component"),
        pytest.param("a//b", id="empty-component"),
        pytest.param("/a", id="leading-slash"),
        pytest.param("a/", id="trailing-slash"),
        pytest.param("-a", id="leading-dash"),
        pytest.param("a-", id="trailing-dash"),
        pytest.param(".a", id="leading-dot"),
        pytest.param("a.", id="trailing-dot"),
        pytest.param("_a", id="leading-underscore"),
        pytest.param("a_", id="trailing-underscore"),
        pytest.param("a..b", id="double-dot"),
        pytest.param("a___b", id="triple-underscore"),
        pytest.param("a._b", id="mixed-separators"),
        pytest.param("a b", id="space"),
        pytest.param("a:b", id="colon"),
        pytest.param("a@b", id="at"),
        pytest.param("a\n", id="trailing-newline"),
        pytest.param("a\nb", id="embedded-newline"),
        pytest.param("ä", id="non-ascii"),
        pytest.param("a" * (NAME_MAX_LENGTH + 1), id="256-chars"),
        pytest.param("/".join(["ab"] * 86), id="257-chars-of-components"),
    ],
)
def test_invalid_names(name: str) -> None:
    with pytest.raises(RegistryError) as info:
        validate_name(name)
    assert info.value.code is ErrorCode.NAME_INVALID
    assert info.value.status == 400


def test_long_name_error_reports_length() -> None:
    with pytest.raises(RegistryError) as info:
        validate_name("a" * 256)
    assert info.value.detail == {"length": 256}


@pytest.mark.parametrize(
    "tag",
    ["latest", "v1.0.0", "1", "_", "_hidden", "A", "UPPER-lower_1.2", "a" * 128, "x-" + "y" * 126],
)
def test_valid_tags(tag: str) -> None:
    assert is_valid_tag(tag)
    assert validate_tag(tag) == tag


@pytest.mark.parametrize(
    "tag",
    [
        pytest.param("", id="empty"),
        pytest.param("a" * 129, id="129-chars"),
        pytest.param(".hidden", id="leading-dot"),
        pytest.param("-dash", id="leading-dash"),
        pytest.param("a/b", id="slash"),
        pytest.param("a:b", id="colon"),
        pytest.param("a+b", id="plus"),
        pytest.param("a b", id="space"),
        pytest.param("latest\n", id="trailing-newline"),
        pytest.param("sha256:abc", id="digest-like"),
        pytest.param("ä", id="non-ascii"),
    ],
)
def test_invalid_tags(tag: str) -> None:
    assert not is_valid_tag(tag)
    with pytest.raises(RegistryError) as info:
        validate_tag(tag)
    assert info.value.code is ErrorCode.TAG_INVALID
    assert len(info.value.detail["tag"]) <= 200
