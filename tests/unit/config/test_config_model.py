"""The Settings object itself: frozen, JSON round trip, JSON Schema."""

from __future__ import annotations

import json

import msgspec
import pytest

from dockyard.config import ConfigError, Settings, load_settings, settings_json_schema


def test_settings_are_frozen(example_config: str) -> None:
    s = load_settings(example_config, {})
    with pytest.raises(AttributeError):
        s.http.addr = ":1"  # type: ignore[misc]


def test_json_round_trip(example_config: str) -> None:
    s = load_settings(example_config, {"REGISTRY_HTTP_SECRET": "abc"})
    data = s.to_json()
    assert isinstance(data, bytes)
    back = Settings.from_json(data)
    assert back == s
    assert back.http.secret == "abc"
    assert back.storage.driver_name == "filesystem"


def test_from_json_rejects_garbage() -> None:
    with pytest.raises(ConfigError, match="invalid serialized settings"):
        Settings.from_json(b'{"http": {"addr": 5}}')


def test_schema_is_json_and_describes_the_file() -> None:
    schema = json.loads(json.dumps(settings_json_schema()))
    root = schema["$defs"]["Settings"]
    assert {"storage", "http", "auth", "log", "dockyard"} <= set(root["properties"])
    assert root["additionalProperties"] is False
    storage = schema["$defs"]["StorageSettings"]["properties"]
    assert {"filesystem", "inmemory", "s3", "delete", "maintenance"} <= set(storage)
    # registry:2 files say `version: 0.1` (a YAML number): the schema must accept that.
    assert root["properties"]["version"]["type"] == ["string", "number"]


def test_default_settings_equal_loaded_defaults() -> None:
    assert Settings() == load_settings(None, {})
    assert msgspec.json.decode(Settings().to_json())["storage"]["filesystem"] == {
        "rootdirectory": "/var/lib/registry",
        "maxthreads": 100,
    }
