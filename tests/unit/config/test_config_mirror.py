"""``proxy`` (the pull-through cache), ``dockyard.mirror`` and ``dockyard.outbound``."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.config import ConfigError, load_settings


def _error(environ: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(None, environ)
    return str(info.value)


def test_registry2_proxy_keys_and_dockyard_extras_load() -> None:
    settings = load_settings(
        None,
        {
            "REGISTRY_PROXY_REMOTEURL": "https://registry-1.docker.io",
            "REGISTRY_PROXY_USERNAME": "me",
            "REGISTRY_PROXY_PASSWORD": "secret",
            "REGISTRY_PROXY_TTL": "72h",
            "REGISTRY_DOCKYARD_MIRROR_TAGTTL": "5m",
            "REGISTRY_DOCKYARD_OUTBOUND_ALLOWED": "[127.0.0.0/8, '::1/128']",
        },
    )
    assert settings.proxy.enabled and settings.proxy.username == "me"
    assert settings.dockyard.mirror.tag_ttl_seconds == 300
    assert settings.dockyard.mirror.staleness_seconds == 24 * 3600  # the default
    assert settings.dockyard.outbound.allowed == ["127.0.0.0/8", "::1/128"]
    assert not load_settings(None, {}).proxy.enabled


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("registry-1.docker.io", "expected http(s)://HOST[:PORT]"),
        ("ftp://mirror.example", "expected http(s)://HOST[:PORT]"),
        ("https://u:p@mirror.example", "proxy.username/password"),
        ("https://mirror.example/v2/", "no path, query or fragment"),
        ("https://mirror.example:99999", "not a valid URL"),
    ],
)
def test_a_bad_remote_url_is_refused(url: str, why: str) -> None:
    text = _error({"REGISTRY_PROXY_REMOTEURL": url})
    assert "proxy.remoteurl" in text and why in text


def test_credentials_come_in_pairs_and_durations_and_networks_are_checked() -> None:
    assert "set together" in _error({"REGISTRY_PROXY_USERNAME": "me"})
    assert "dockyard.mirror.staleness" in _error({"REGISTRY_DOCKYARD_MIRROR_STALENESS": "soon"})
    assert "dockyard.mirror.timeout" in _error({"REGISTRY_DOCKYARD_MIRROR_TIMEOUT": "0s"})
    bad = _error({"REGISTRY_DOCKYARD_OUTBOUND_DENIED": "[10.0.0.0/8, not-a-net]"})
    assert "dockyard.outbound.denied[1]" in bad


def test_the_mirror_example_loads() -> None:
    example = Path(__file__).resolve().parents[3] / "examples" / "mirror" / "config.yml"
    settings = load_settings(str(example), {})
    assert settings.proxy.remoteurl == "https://registry-1.docker.io"
    assert settings.dockyard.mirror.staleness_seconds == 24 * 3600
