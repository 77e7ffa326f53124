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


def _upstreams(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "config.yml"
    path.write_text("version: 0.1\ndockyard:\n  mirror:\n    upstreams:\n" + body)
    return path


HUB = "      - {name: hub, prefix: hub, url: 'https://registry-1.docker.io'"


def test_upstreams_under_prefixes_load(tmp_path: Path) -> None:
    path = _upstreams(
        tmp_path,
        f"{HUB}, namespaces: [docker.io], breaker: {{failures: 2, cooldown: 1m}}}}\n"
        "      - {name: quay, prefix: mirrors/quay, url: 'https://quay.io', remoteprefix: org,"
        " username: u, password: p, tagttl: 10m}\n",
    )
    mirror = load_settings(str(path), {}).dockyard.mirror
    hub, quay = mirror.upstreams
    assert hub.namespaces == ["docker.io"] and hub.breaker is not None
    assert hub.breaker.failures == 2 and hub.breaker.cooldown_seconds == 60
    assert quay.prefix == "mirrors/quay" and quay.remoteprefix == "org" and quay.tagttl == "10m"


@pytest.mark.parametrize(
    ("entries", "why"),
    [
        (f"{HUB}, extra: 1}}\n", "unknown key dockyard.mirror.upstreams[0].extra"),
        ("      - {name: Hub, prefix: hub, url: 'https://h.example'}\n", ".name"),
        ("      - {name: hub, prefix: Hub, url: 'https://h.example'}\n", ".prefix"),
        ("      - {name: hub, prefix: 'a//b', url: 'https://h.example'}\n", ".prefix"),
        ("      - {name: hub, prefix: hub, url: 'https://h.example/v2'}\n", ".url"),
        ("      - {name: hub, prefix: hub, url: 'https://u:p@h.example'}\n", "username/password"),
        (f"{HUB}, username: me}}\n", "set together"),
        (f"{HUB}, staleness: later}}\n", ".staleness"),
        (f"{HUB}, namespaces: ['docker io']}}\n", ".namespaces[0]"),
        (f"{HUB}, breaker: {{failures: 0}}}}\n", ".breaker.failures"),
        (f"{HUB}}}\n{HUB}}}\n", 'two upstreams are named "hub"'),
        (f"{HUB}}}\n      - {{name: b, prefix: hub/sub, url: 'https://b.example'}}\n", "overlap"),
        (
            f"{HUB}, namespaces: [docker.io]}}\n"
            "      - {name: b, prefix: b, url: 'https://b.example', namespaces: [DOCKER.IO]}\n",
            'namespace "DOCKER.IO"',
        ),
    ],
)
def test_bad_upstreams_are_refused(tmp_path: Path, entries: str, why: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(str(_upstreams(tmp_path, entries)), {})
    assert why in str(info.value)


def test_the_breaker_of_the_single_upstream_is_configurable() -> None:
    env = {"REGISTRY_DOCKYARD_MIRROR_BREAKER_FAILURES": "7"}
    assert load_settings(None, env).dockyard.mirror.breaker.failures == 7
    bad = {"REGISTRY_DOCKYARD_MIRROR_BREAKER_COOLDOWN": "0s"}
    assert "dockyard.mirror.breaker.cooldown" in _error(bad)


def test_proxy_exec_is_checked() -> None:
    base = {"REGISTRY_PROXY_REMOTEURL": "https://registry-1.docker.io"}
    ok = load_settings(None, base | {"REGISTRY_PROXY_EXEC_COMMAND": "docker-credential-x"})
    assert ok.proxy.exec == {"command": "docker-credential-x"}
    assert "proxy.exec.command" in _error(base | {"REGISTRY_PROXY_EXEC_LIFETIME": "1h"})
    bad_lifetime = {"REGISTRY_PROXY_EXEC_COMMAND": "h", "REGISTRY_PROXY_EXEC_LIFETIME": "soon"}
    assert "proxy.exec.lifetime" in _error(base | bad_lifetime)
    both = {"REGISTRY_PROXY_EXEC_COMMAND": "h", "REGISTRY_PROXY_USERNAME": "u",
            "REGISTRY_PROXY_PASSWORD": "p"}  # fmt: skip
    assert "not both" in _error(base | both)
