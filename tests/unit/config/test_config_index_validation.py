"""validation.manifests.indexes (registry:2 3.x): which children a pushed index must have."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from dockyard.config import ConfigError, load_settings
from dockyard.config.validation import IndexCompleteness, index_completeness

WriteConfig = Callable[[str], str]
AMD64 = {"os": "linux", "architecture": "amd64"}
ARM64 = {"os": "linux", "architecture": "arm64", "variant": "v8"}


def test_default_requires_every_child() -> None:
    rule = index_completeness({})
    assert rule == IndexCompleteness("all")
    assert rule.requires(AMD64) and rule.requires(None)
    assert load_settings(None, {}).validation.manifests == {}


@pytest.mark.parametrize("value", ["none", "None", " NONE "])
def test_none_makes_every_child_optional(value: str) -> None:
    rule = index_completeness({"indexes": {"platforms": value}})
    assert not rule.requires(AMD64) and not rule.requires(None)


def test_list_requires_only_listed_platforms() -> None:
    rule = index_completeness(
        {
            "indexes": {
                "platforms": "List",
                "platformlist": [{"os": "linux", "architecture": "arm64"}],
            }
        }
    )
    assert rule.requires(ARM64)
    assert not rule.requires(AMD64)
    assert not rule.requires(None)  # an attestation manifest without a platform


def test_read_from_the_environment_and_from_the_file(write_config: WriteConfig) -> None:
    environ = {"REGISTRY_VALIDATION_MANIFESTS_INDEXES_PLATFORMS": "none"}
    settings = load_settings(None, environ)
    assert index_completeness(settings.validation.manifests).mode == "none"
    path = write_config(
        "version: 0.1\nstorage: {filesystem: {rootdirectory: /tmp/x}}\n"
        "validation: {manifests: {urls: {allow: ['^https://']}, indexes: {platforms: list,"
        " platformlist: [{os: linux, architecture: amd64}]}}}\n"
    )
    rule = index_completeness(load_settings(path, {}).validation.manifests)
    assert rule.platforms == frozenset({("linux", "amd64")})


@pytest.mark.parametrize(
    "indexes,message",
    [
        ({"platforms": "some"}, "platforms: expected one of all, none, list"),
        ({"platforms": "list"}, "list needs at least one entry"),
        ({"platforms": "list", "platformlist": "linux/amd64"}, "platformlist: expected a list"),
        ({"platforms": "list", "platformlist": [{"os": "linux"}]}, "needs os and architecture"),
        ({"platforms": "list", "platformlist": ["linux"]}, "platformlist[0]: expected a mapping"),
    ],
)
def test_bad_values_name_the_key(indexes: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=r"validation\.manifests\.indexes") as info:
        index_completeness({"indexes": indexes})
    assert message in str(info.value)


def test_config_check_refuses_a_bad_value() -> None:
    with pytest.raises(ConfigError, match="expected one of all, none, list"):
        load_settings(None, {"REGISTRY_VALIDATION_MANIFESTS_INDEXES_PLATFORMS": "maybe"})
