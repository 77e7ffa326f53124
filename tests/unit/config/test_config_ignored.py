"""Keys dockyard accepts for registry:2 compatibility but ignores are named, never silent."""

from __future__ import annotations

from collections.abc import Callable

import msgspec.inspect as mi
import pytest

from dockyard.config import load_settings
from dockyard.config.ignored import IGNORED, ignored_keys
from dockyard.config.shape import field_named, root_type, unwrap


def test_defaults_set_nothing_ignored() -> None:
    assert ignored_keys(load_settings(None, {})) == []


@pytest.mark.parametrize("key", IGNORED)
def test_every_listed_key_exists(key: str) -> None:
    t: mi.Type = root_type()
    for part in key.split("."):
        assert isinstance(t, mi.StructType), key
        found = field_named(t, part)
        assert found is not None, key
        t = unwrap(found.type)


def test_set_keys_are_named(write_config: Callable[[str], str]) -> None:
    path = write_config(
        "proxy: {remoteurl: https://registry-1.docker.io, ttl: 72h}\n"
        "storage: {s3: {bucket: b, accelerate: true}, maintenance: {readonly: {enabled: false}}}\n"
        "dockyard: {database: 'sqlite:///x.db'}\n"
        "health: {storagedriver: {enabled: true}, file: [{file: /x}]}\n"
        "log: {reportcaller: true}\n"
    )
    settings = load_settings(path, {})
    assert ignored_keys(settings) == [
        "log.reportcaller", "storage.s3.accelerate", "health.file",
    ]  # fmt: skip  (proxy.ttl is read: cached content expires, docs/mirror.md)


def test_variables_count_as_well() -> None:
    settings = load_settings(None, {"REGISTRY_REPORTING_BUGSNAG_APIKEY": "key"})
    assert ignored_keys(settings) == ["reporting"]


def test_notifications_are_honoured_not_ignored() -> None:
    env = {
        "REGISTRY_NOTIFICATIONS_ENDPOINTS_0_NAME": "hook",
        "REGISTRY_NOTIFICATIONS_ENDPOINTS_0_URL": "http://127.0.0.1:9/events",
    }
    assert ignored_keys(load_settings(None, env)) == []
