"""Checks beyond types: durations, TLS pair, addresses, enums, dockyard section."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from dockyard.config import ConfigError, load_settings, parse_duration

WriteConfig = Callable[[str], str]


def error_of(path: str | None = None, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ or {})
    assert "\n" not in str(info.value)
    return str(info.value)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("168h", 604800.0),
        ("24h", 86400.0),
        ("1h30m", 5400.0),
        ("500ms", 0.5),
        ("10s", 10.0),
        ("1.5s", 1.5),
        ("2m0.5s", 120.5),
        ("100us", 0.0001),
        ("0", 0.0),
        ("3600", 3600.0),
        ("-1m", -60.0),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["h", "1d", "10 s", "1h-5m", "s10", "1.2.3s", "abc", "5m3"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ConfigError, match="invalid duration"):
        parse_duration(text)


def test_parse_duration_rejects_empty() -> None:
    with pytest.raises(ConfigError):
        parse_duration("")


def test_bad_duration_in_file_names_key(write_config: WriteConfig) -> None:
    path = write_config("storage:\n  maintenance:\n    uploadpurging:\n      age: 1week\n")
    assert error_of(path).startswith(
        'config: storage.maintenance.uploadpurging.age: invalid duration "1week"'
    )
    assert error_of(None, {"REGISTRY_HTTP_DRAINTIMEOUT": "soon"}).startswith(
        "config: REGISTRY_HTTP_DRAINTIMEOUT: http.draintimeout: invalid duration"
    )


def test_integer_duration_is_seconds(write_config: WriteConfig) -> None:
    path = write_config("storage:\n  maintenance:\n    uploadpurging:\n      interval: 90\n")
    assert load_settings(path, {}).storage.maintenance.uploadpurging.interval_seconds == 90


def test_zero_purge_interval_fails() -> None:
    env = {"REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_INTERVAL": "0s"}
    assert "duration must be above zero" in error_of(None, env)


def test_tls_certificate_without_key_fails(tmp_path: Path) -> None:
    cert = tmp_path / "cert.pem"
    cert.write_text("x")
    assert error_of(None, {"REGISTRY_HTTP_TLS_CERTIFICATE": str(cert)}) == (
        "config: http.tls.key: http.tls.certificate and http.tls.key must be set together"
    )
    assert error_of(None, {"REGISTRY_HTTP_TLS_KEY": str(cert)}).startswith(
        "config: http.tls.certificate: "
    )


def test_tls_files_must_exist(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text("x")
    env = {"REGISTRY_HTTP_TLS_CERTIFICATE": str(cert), "REGISTRY_HTTP_TLS_KEY": str(key)}
    assert error_of(None, env) == (
        f"config: REGISTRY_HTTP_TLS_KEY: http.tls.key: file not found: {key}"
    )
    key.write_text("x")
    assert load_settings(None, env).http.tls.key == str(key)


def test_tls_minimum_version_enum() -> None:
    assert "http.tls.minimumtls: expected one of" in error_of(
        None, {"REGISTRY_HTTP_TLS_MINIMUMTLS": "ssl3"}
    )


@pytest.mark.parametrize(
    ("addr", "expected"),
    [
        (":5000", ("0.0.0.0", 5000)),
        ("0.0.0.0:80", ("0.0.0.0", 80)),
        ("localhost:5000", ("localhost", 5000)),
        ("[::1]:5000", ("::1", 5000)),
        ("127.0.0.1:0", ("127.0.0.1", 0)),
    ],
)
def test_listen_host_port(addr: str, expected: tuple[str, int]) -> None:
    assert load_settings(None, {"REGISTRY_HTTP_ADDR": addr}).listen_host_port() == expected


@pytest.mark.parametrize("addr", ["5000", "localhost", ":http", ":70000", "::1:5000", ""])
def test_bad_http_addr_fails(addr: str) -> None:
    assert error_of(None, {"REGISTRY_HTTP_ADDR": addr}).startswith(
        "config: REGISTRY_HTTP_ADDR: http.addr: "
    )


def test_bad_debug_addr_fails() -> None:
    assert "http.debug.addr: expected" in error_of(None, {"REGISTRY_HTTP_DEBUG_ADDR": "5001"})


def test_unix_socket_has_no_host_port() -> None:
    s = load_settings(None, {"REGISTRY_HTTP_NET": "unix", "REGISTRY_HTTP_ADDR": "/run/reg.sock"})
    with pytest.raises(ConfigError, match=r"http\.net"):
        s.listen_host_port()


@pytest.mark.parametrize(
    ("name", "value", "key"),
    [
        ("REGISTRY_LOG_LEVEL", "trace", "log.level"),
        ("REGISTRY_LOG_FORMATTER", "xml", "log.formatter"),
        ("REGISTRY_HTTP_NET", "udp", "http.net"),
        ("REGISTRY_DOCKYARD_SERVER", "gunicorn", "dockyard.server"),
    ],
)
def test_enums(name: str, value: str, key: str) -> None:
    assert error_of(None, {name: value}) == (
        f"config: {name}: {key}: expected one of "
        + {
            "log.level": "error, warn, info, debug",
            "log.formatter": "text, json, logstash",
            "http.net": "tcp, tcp4, tcp6, unix",
            "dockyard.server": "granian, uvicorn",
        }[key]
        + f', got "{value}"'
    )


def test_log_level_is_case_insensitive() -> None:
    assert load_settings(None, {"REGISTRY_LOG_LEVEL": "WARN"}).log.level == "warn"


def test_token_auth_needs_its_keys() -> None:
    assert error_of(None, {"REGISTRY_AUTH": "token"}) == (
        "config: REGISTRY_AUTH: auth.token.realm: required when auth.token is configured"
    )


def test_filesystem_checks() -> None:
    assert "must be at least 25" in error_of(None, {"REGISTRY_STORAGE_FILESYSTEM_MAXTHREADS": "5"})
    assert "must not be empty" in error_of(
        None, {"REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": '""'}
    )


def test_s3_needs_a_bucket_and_a_database() -> None:
    assert error_of(None, {"REGISTRY_STORAGE": "s3"}) == (
        "config: REGISTRY_STORAGE: storage.s3.bucket: required when storage.s3 is configured"
    )
    text = error_of(None, {"REGISTRY_STORAGE_S3_BUCKET": "b"})
    assert text.startswith("config: dockyard.database: required with the s3 driver")


def test_storage_root_is_filesystem_only() -> None:
    env = {"REGISTRY_STORAGE_S3_BUCKET": "b", "REGISTRY_DOCKYARD_DATABASE": "postgresql://h/db"}
    s = load_settings(None, env)
    with pytest.raises(ConfigError, match="driver is s3"):
        s.storage_root()


def test_database_url_forms() -> None:
    env = {"REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": "/data/"}
    assert load_settings(None, env).database_url() == "sqlite:////data/dockyard/metadata.db"
    assert "dockyard.database: expected" in error_of(
        None, {"REGISTRY_DOCKYARD_DATABASE": "mysql://x"}
    )


def test_workers_must_be_positive() -> None:
    assert "dockyard.workers: must be at least 1" in error_of(
        None, {"REGISTRY_DOCKYARD_WORKERS": "0"}
    )


def test_audit_retention_must_be_a_duration() -> None:
    message = error_of(None, {"REGISTRY_DOCKYARD_IDENTITY_AUDITRETENTION": "90d"})
    assert "dockyard.identity.auditretention" in message
    settings = load_settings(None, {"REGISTRY_DOCKYARD_IDENTITY_AUDITRETENTION": "2160h"})
    assert parse_duration(settings.dockyard.identity.auditretention) == 2160 * 3600


def test_health_storagedriver_is_checked_when_loading() -> None:
    message = error_of(None, {"REGISTRY_HEALTH_STORAGEDRIVER_THRESHOLD": "0"})
    assert "health.storagedriver.threshold" in message


def test_upload_limits_defaults_and_environment() -> None:
    uploads = load_settings(None, {}).dockyard.uploads
    assert (uploads.sessionsperrepository, uploads.sessionsperclient) == (1000, 2000)
    assert uploads.body_timeout_seconds == 60.0
    environ = {
        "REGISTRY_DOCKYARD_UPLOADS_BODYTIMEOUT": "2s",
        "REGISTRY_DOCKYARD_UPLOADS_SESSIONSPERCLIENT": "0",
    }
    changed = load_settings(None, environ).dockyard.uploads
    assert (changed.body_timeout_seconds, changed.sessionsperclient) == (2.0, 0)


@pytest.mark.parametrize(
    ("name", "value", "key"),
    [
        ("SESSIONSPERREPOSITORY", "-1", "dockyard.uploads.sessionsperrepository"),
        ("SESSIONSPERCLIENT", "-5", "dockyard.uploads.sessionsperclient"),
        ("BODYTIMEOUT", "soon", "dockyard.uploads.bodytimeout"),
        ("BODYTIMEOUT", "-3s", "dockyard.uploads.bodytimeout"),
    ],
)
def test_upload_limits_refused_when_wrong(name: str, value: str, key: str) -> None:
    assert key in error_of(environ={f"REGISTRY_DOCKYARD_UPLOADS_{name}": value})
