"""Loading config.yml files: real registry:2 samples, defaults, file errors, key errors."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from dockyard.config import ConfigError, FilesystemSettings, load_settings

WriteConfig = Callable[[str], str]
DEBIAN_CONFIG = "/etc/docker/registry/config.yml"


def fails(path: str | None, environ: dict[str, str] | None = None) -> str:
    """Load and return the error line (asserting there is one and it is one line)."""
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ or {})
    text = str(info.value)
    assert text.startswith("config: ")
    assert "\n" not in text
    return text


def test_registry2_example_config_loads(example_config: str) -> None:
    s = load_settings(example_config, {})
    assert s.version == "0.1"
    assert (s.log.level, s.log.formatter) == ("info", "text")
    assert s.log.fields == {"service": "registry", "environment": "staging"}
    assert s.storage.driver_name == "filesystem"
    assert s.storage_root() == "/var/lib/registry"
    assert s.storage.delete.enabled is True
    assert s.storage.cache == {"blobdescriptor": "inmemory"}
    purging = s.storage.maintenance.uploadpurging
    assert (purging.age_seconds, purging.interval_seconds) == (168 * 3600, 24 * 3600)
    assert s.auth.kind == "htpasswd"
    assert s.auth.htpasswd is not None
    assert (s.auth.htpasswd.realm, s.auth.htpasswd.path) == ("basic-realm", "/auth/htpasswd")
    assert s.http.secret == "asecretforlocaldevelopment"
    assert s.http.draintimeout_seconds == 60
    assert s.http.headers == {"X-Content-Type-Options": ["nosniff"]}
    assert s.listen_host_port() == ("0.0.0.0", 5000)
    assert s.debug_host_port() == ("0.0.0.0", 5001)
    assert s.http.debug.prometheus.enabled is True
    endpoint = s.notifications.endpoints[0]
    assert (endpoint.name, endpoint.timeout_seconds, endpoint.failures_before_doubling) == (
        "alistener",
        1.0,
        10,
    )
    assert endpoint.headers == {"Authorization": ["Bearer sometoken"]}
    assert endpoint.ignore.actions == ["pull"] and s.notifications.events.includereferences
    assert s.middleware["storage"][0].name == "redirect"
    assert s.health["storagedriver"]["threshold"] == 3
    assert s.redis.addr == "localhost:6379" and s.redis.pool.maxactive == 64
    assert s.database_url() == "sqlite:////var/lib/registry/dockyard/metadata.db"


@pytest.mark.skipif(not os.path.isfile(DEBIAN_CONFIG), reason="docker-registry not installed")
def test_installed_docker_registry_config_loads() -> None:
    s = load_settings(DEBIAN_CONFIG, {})
    assert s.storage.driver_name == "filesystem"
    assert s.http.addr == ":5000"


def test_defaults_without_a_file() -> None:
    s = load_settings(None, {})
    assert s.http.addr == ":5000"
    assert s.log.level == "info"
    assert s.log.formatter == "json"
    assert s.storage.driver_name == "filesystem"
    assert s.storage.filesystem == FilesystemSettings()
    assert s.storage_root() == "/var/lib/registry"
    assert s.storage.delete.enabled is False
    assert s.storage.maintenance.uploadpurging.enabled is True
    assert s.storage.maintenance.uploadpurging.age == "168h"
    assert s.storage.maintenance.readonly.enabled is False
    assert s.auth.kind == ""
    assert s.http.tls.minimumtls == "tls1.2"
    assert s.http.debug.prometheus.path == "/metrics"
    assert (s.dockyard.database, s.dockyard.server, s.dockyard.workers) == ("", "granian", 1)
    assert s.debug_host_port() is None


def test_empty_file_means_defaults(write_config: WriteConfig) -> None:
    assert load_settings(write_config(""), {}) == load_settings(None, {})


def test_missing_file_fails(tmp_path: Path) -> None:
    path = str(tmp_path / "nope" / "config.yml")
    assert fails(path) == f"config: file not found: {path}"


def test_directory_instead_of_file_fails(tmp_path: Path) -> None:
    assert fails(str(tmp_path)).startswith(f"config: cannot read {tmp_path}: ")


def test_invalid_yaml_names_the_line(write_config: WriteConfig) -> None:
    path = write_config("http:\n  addr: :5000\n   secret: [x\n")
    assert fails(path).startswith(f"config: {path}: invalid YAML at line ")


def test_top_level_must_be_a_mapping(write_config: WriteConfig) -> None:
    assert "expected a mapping at the top level" in fails(write_config("- a\n- b\n"))


def test_unknown_key_in_file_is_named(write_config: WriteConfig) -> None:
    assert fails(write_config("http:\n  adress: ':5000'\n")) == "config: unknown key http.adress"
    assert fails(write_config("storag: {}\n")) == "config: unknown key storag"
    text = "storage:\n  filesystem:\n    rootdir: /x\n"
    assert fails(write_config(text)) == "config: unknown key storage.filesystem.rootdir"


def test_wrong_type_names_key_and_value(write_config: WriteConfig) -> None:
    path = write_config("storage:\n  delete:\n    enabled: maybe\n")
    assert fails(path) == 'config: storage.delete.enabled: expected bool, got str "maybe"'
    path = write_config("storage:\n  filesystem:\n    maxthreads: lots\n")
    assert fails(path) == 'config: storage.filesystem.maxthreads: expected int, got str "lots"'
    path = write_config("http:\n  headers:\n    X-Frame-Options: DENY\n")
    assert fails(path).startswith("config: http.headers.*: expected array, got str")
    path = write_config("notifications:\n  endpoints: {name: x}\n")
    assert fails(path) == "config: notifications.endpoints: expected array, got object"


def test_list_items_are_named_by_index(write_config: WriteConfig) -> None:
    path = write_config("notifications:\n  endpoints:\n    - name: a\n    - 7\n")
    assert fails(path) == "config: notifications.endpoints[1]: expected object, got int 7"


def test_null_values_mean_default(write_config: WriteConfig) -> None:
    s = load_settings(write_config("http:\n  secret:\n  addr:\nlog:\n"), {})
    assert (s.http.secret, s.http.addr, s.log.level) == ("", ":5000", "info")


def test_null_or_string_driver_selects_it(write_config: WriteConfig) -> None:
    assert load_settings(write_config("storage:\n  inmemory:\n"), {}).storage.driver_name == (
        "inmemory"
    )
    s = load_settings(write_config("storage: inmemory\n"), {})
    assert s.storage.inmemory == {}
    assert s.database_url() == "sqlite:///:memory:"


def test_numbers_where_strings_are_expected(write_config: WriteConfig) -> None:
    s = load_settings(write_config("version: 0.1\nhttp:\n  secret: 12345\n"), {})
    assert (s.version, s.http.secret) == ("0.1", "12345")


def test_unsupported_version_fails(write_config: WriteConfig) -> None:
    assert fails(write_config("version: 0.2\n")).startswith("config: version: unsupported version")


def test_more_than_one_driver_fails(write_config: WriteConfig) -> None:
    path = write_config("storage:\n  filesystem: {}\n  s3: {bucket: b}\n")
    assert fails(path) == "config: storage: more than one driver configured: filesystem, s3"


def test_more_than_one_auth_method_fails(write_config: WriteConfig) -> None:
    path = write_config("auth:\n  htpasswd: {path: /x}\n  silly: {realm: r, service: s}\n")
    assert fails(path) == "config: auth: more than one auth method configured: htpasswd, silly"


def test_foreign_storage_driver_gets_a_hint(write_config: WriteConfig) -> None:
    text = fails(write_config("storage:\n  gcs:\n    bucket: b\n"))
    assert text.startswith("config: unknown key storage.gcs (storage driver not supported")


def test_deprecated_loglevel_key_is_honoured(write_config: WriteConfig) -> None:
    assert load_settings(write_config("loglevel: DEBUG\n"), {}).log.level == "debug"
    text = "loglevel: debug\nlog:\n  level: warn\n"
    assert load_settings(write_config(text), {}).log.level == "warn"


def test_dockyard_section(write_config: WriteConfig) -> None:
    text = "dockyard:\n  database: sqlite:////data/meta.db\n  server: uvicorn\n  workers: 4\n"
    s = load_settings(write_config(text), {})
    assert s.database_url() == "sqlite:////data/meta.db"
    assert (s.dockyard.server, s.dockyard.workers) == ("uvicorn", 4)
    path = write_config("dockyard:\n  colour: blue\n")
    assert fails(path) == "config: unknown key dockyard.colour"
