"""REGISTRY_* environment overrides, registry:2 style."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from dockyard.config import ConfigError, Settings, load_settings

WriteConfig = Callable[[str], str]


def env_error(environ: dict[str, str], path: str | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ)
    assert "\n" not in str(info.value)
    return str(info.value)


OVERRIDES: list[tuple[str, str, Callable[[Settings], Any], Any]] = [
    ("REGISTRY_HTTP_ADDR", "127.0.0.1:6000", lambda s: s.listen_host_port(), ("127.0.0.1", 6000)),
    ("REGISTRY_HTTP_SECRET", "s3cr3t", lambda s: s.http.secret, "s3cr3t"),
    ("REGISTRY_HTTP_DEBUG_ADDR", "localhost:5001", lambda s: s.http.debug.addr, "localhost:5001"),
    (
        "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY",
        "/srv/reg",
        lambda s: s.storage_root(),
        "/srv/reg",
    ),
    ("REGISTRY_STORAGE_DELETE_ENABLED", "false", lambda s: s.storage.delete.enabled, False),
    (
        "REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_ENABLED",
        "false",
        lambda s: s.storage.maintenance.uploadpurging.enabled,
        False,
    ),
    (
        "REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_AGE",
        "2h",
        lambda s: s.storage.maintenance.uploadpurging.age_seconds,
        7200,
    ),
    (
        "REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_INTERVAL",
        "30m",
        lambda s: s.storage.maintenance.uploadpurging.interval_seconds,
        1800,
    ),
    (
        "REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_DRYRUN",
        "true",
        lambda s: s.storage.maintenance.uploadpurging.dryrun,
        True,
    ),
    (
        "REGISTRY_STORAGE_MAINTENANCE_READONLY",
        '{"enabled": true}',
        lambda s: s.storage.maintenance.readonly.enabled,
        True,
    ),
    (
        "REGISTRY_STORAGE_MAINTENANCE_READONLY_ENABLED",
        "true",
        lambda s: s.storage.maintenance.readonly.enabled,
        True,
    ),
    ("REGISTRY_LOG_LEVEL", "debug", lambda s: s.log.level, "debug"),
    ("REGISTRY_LOG_FORMATTER", "logstash", lambda s: s.log.formatter, "logstash"),
    (
        "REGISTRY_DOCKYARD_DATABASE",
        "postgresql://dockyard@db/dockyard",
        lambda s: s.database_url(),
        "postgresql://dockyard@db/dockyard",
    ),
]


@pytest.mark.parametrize(("name", "value", "read", "expected"), OVERRIDES)
def test_env_var_overrides_file(
    example_config: str, name: str, value: str, read: Callable[[Settings], Any], expected: Any
) -> None:
    assert read(load_settings(example_config, {})) != expected
    assert read(load_settings(example_config, {name: value})) == expected


def test_tls_pair_from_env(tmp_path: Any) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text("x")
    key.write_text("x")
    env = {"REGISTRY_HTTP_TLS_CERTIFICATE": str(cert), "REGISTRY_HTTP_TLS_KEY": str(key)}
    s = load_settings(None, env)
    assert (s.http.tls.certificate, s.http.tls.key) == (str(cert), str(key))


def test_auth_htpasswd_selected_by_name() -> None:
    s = load_settings(
        None,
        {
            "REGISTRY_AUTH": "htpasswd",
            "REGISTRY_AUTH_HTPASSWD_REALM": "Registry Realm",
            "REGISTRY_AUTH_HTPASSWD_PATH": "/auth/htpasswd",
        },
    )
    assert s.auth.kind == "htpasswd"
    assert s.auth.htpasswd is not None
    assert (s.auth.htpasswd.realm, s.auth.htpasswd.path) == ("Registry Realm", "/auth/htpasswd")


def test_auth_selection_replaces_the_files_method(write_config: WriteConfig) -> None:
    path = write_config("auth:\n  silly:\n    realm: r\n    service: s\n")
    s = load_settings(path, {"REGISTRY_AUTH": "htpasswd", "REGISTRY_AUTH_HTPASSWD_PATH": "/h"})
    assert (s.auth.kind, s.auth.silly) == ("htpasswd", None)


def test_auth_htpasswd_without_path_fails() -> None:
    assert env_error({"REGISTRY_AUTH": "htpasswd"}) == (
        "config: REGISTRY_AUTH: auth.htpasswd.path: required when auth.htpasswd is configured"
    )


def test_htpasswd_keys_merge_into_the_file_section(example_config: str) -> None:
    s = load_settings(example_config, {"REGISTRY_AUTH_HTPASSWD_REALM": "other"})
    assert s.auth.htpasswd is not None
    assert (s.auth.htpasswd.realm, s.auth.htpasswd.path) == ("other", "/auth/htpasswd")


def test_storage_selection_keeps_other_storage_keys(example_config: str) -> None:
    s = load_settings(example_config, {"REGISTRY_STORAGE": "inmemory"})
    assert s.storage.driver_name == "inmemory"
    assert s.storage.filesystem is None
    assert s.storage.delete.enabled is True


def test_storage_driver_keys_from_env_replace_the_files_driver(example_config: str) -> None:
    env = {
        "REGISTRY_STORAGE_S3_BUCKET": "images",
        "REGISTRY_STORAGE_S3_REGIONENDPOINT": "http://127.0.0.1:8333",
        "REGISTRY_DOCKYARD_DATABASE": "postgresql://db/dockyard",
    }
    s = load_settings(example_config, env)
    assert s.storage.driver_name == "s3"
    assert s.storage.s3 is not None
    assert (s.storage.s3.bucket, s.storage.s3.regionendpoint) == (
        "images",
        env["REGISTRY_STORAGE_S3_REGIONENDPOINT"],
    )


def test_two_drivers_from_env_fail() -> None:
    env = {"REGISTRY_STORAGE_S3_BUCKET": "b", "REGISTRY_STORAGE_INMEMORY": "{}"}
    assert env_error(env) == "config: storage: more than one driver configured: inmemory, s3"


def test_more_specific_variable_wins() -> None:
    env = {
        "REGISTRY_STORAGE_MAINTENANCE_READONLY": "{enabled: false}",
        "REGISTRY_STORAGE_MAINTENANCE_READONLY_ENABLED": "true",
    }
    assert load_settings(None, env).storage.maintenance.readonly.enabled is True


def test_variables_naming_no_key_are_ignored_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """registry:2 ignores them; podman and skopeo users set REGISTRY_AUTH_FILE for themselves."""
    env = {
        "REGISTRY_AUTH_FILE": "/run/user/1000/containers/auth.json",
        "REGISTRY_HTTP_ADRESS": ":1",
        "REGISTRY_STORAGE_DELETE_ENABLE": "true",
        "REGISTRY_HTTP_ADDR_PORT": "1",  # below a scalar
        "REGISTRY_AUTH_HTPASSWD_FILE": "/x",  # must not choose htpasswd either
        "REGISTRY_HTTP_TLS_CLIENTCAS_FIRST": "/ca.pem",  # a list takes numbers only
    }
    with caplog.at_level("WARNING", logger="dockyard.config.env"):
        assert load_settings(None, env) == load_settings(None, {})
    warned = {r.getMessage().rsplit(" ", 1)[-1] for r in caplog.records}
    assert warned == set(env)


def test_a_known_key_with_a_bad_value_stays_an_error() -> None:
    env = {"REGISTRY_AUTH_FILE": "/auth.json", "REGISTRY_STORAGE_DELETE_ENABLED": "maybe"}
    assert env_error(env).startswith("config: REGISTRY_STORAGE_DELETE_ENABLED: ")


def test_unknown_key_in_the_file_stays_an_error(write_config: WriteConfig) -> None:
    assert env_error({}, write_config("auth:\n  file: /x\n")) == "config: unknown key auth.file"


def test_env_type_error_names_the_variable() -> None:
    assert env_error({"REGISTRY_STORAGE_DELETE_ENABLED": "maybe"}) == (
        "config: REGISTRY_STORAGE_DELETE_ENABLED: storage.delete.enabled: "
        'expected bool, got str "maybe"'
    )


def test_env_validation_error_names_the_variable() -> None:
    text = env_error({"REGISTRY_LOG_LEVEL": "verbose"})
    assert text.startswith("config: REGISTRY_LOG_LEVEL: log.level: expected one of")


def test_unrelated_variables_are_ignored() -> None:
    env = {
        "PATH": "/usr/bin",
        "HTTP_ADDR": "nonsense",
        "REGISTRY_PORT": "tcp://10.0.0.1:5000",  # injected by Kubernetes for a "registry" service
        "REGISTRY_SERVICE_HOST": "10.0.0.1",
        "REGISTRY_CONFIGURATION_PATH": "/etc/docker/registry/config.yml",
    }
    assert load_settings(None, env) == load_settings(None, {})


def test_string_keys_take_the_text_verbatim() -> None:
    assert load_settings(None, {"REGISTRY_HTTP_SECRET": "0x10"}).http.secret == "0x10"
    assert load_settings(None, {"REGISTRY_HTTP_SECRET": "12345"}).http.secret == "12345"
    assert load_settings(None, {"REGISTRY_HTTP_ADDR": ":5001"}).http.addr == ":5001"


def test_env_values_are_yaml() -> None:
    env = {
        "REGISTRY_HTTP_TLS_CIPHERSUITES": "[TLS_AES_128_GCM_SHA256]",
        "REGISTRY_STORAGE_FILESYSTEM_MAXTHREADS": "50",
    }
    s = load_settings(None, env)
    assert s.http.tls.ciphersuites == ["TLS_AES_128_GCM_SHA256"]
    assert s.storage.filesystem is not None
    assert s.storage.filesystem.maxthreads == 50


def test_env_can_fill_loose_sections_and_lists() -> None:
    env = {
        "REGISTRY_LOG_FIELDS_SERVICE": "registry",
        "REGISTRY_NOTIFICATIONS_ENDPOINTS_0_NAME": "hook",
        "REGISTRY_NOTIFICATIONS_ENDPOINTS_0_URL": "http://hook.example/",
    }
    s = load_settings(None, env)
    assert s.log.fields == {"service": "registry"}
    assert [(e.name, e.url) for e in s.notifications.endpoints] == [
        ("hook", "http://hook.example/")
    ]
    assert "no list index 2" in env_error({"REGISTRY_NOTIFICATIONS_ENDPOINTS_2_URL": "x"})


def test_load_settings_never_reads_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRY_HTTP_ADDR", ":6000")
    assert load_settings(None, {}).http.addr == ":5000"
