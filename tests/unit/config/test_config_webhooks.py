"""``dockyard.webhooks``: defaults, environment overrides, and what is refused."""

from __future__ import annotations

import pytest

from dockyard.config import ConfigError, load_settings


def test_defaults_and_environment_overrides() -> None:
    default = load_settings(None, {}).dockyard.webhooks
    assert (default.allowed, default.denied, default.denyprivate) == ([], [], False)
    assert default.test_timeout_seconds == 10.0
    assert default.rotation_overlap_seconds == 86400.0
    env = {
        "REGISTRY_DOCKYARD_WEBHOOKS_ALLOWED": "[169.254.10.0/24, 'fd00::/8']",
        "REGISTRY_DOCKYARD_WEBHOOKS_DENYPRIVATE": "true",
        "REGISTRY_DOCKYARD_WEBHOOKS_TESTTIMEOUT": "3s",
        "REGISTRY_DOCKYARD_WEBHOOKS_ROTATIONOVERLAP": "1h",
    }
    hooks = load_settings(None, env).dockyard.webhooks
    assert hooks.allowed == ["169.254.10.0/24", "fd00::/8"] and hooks.denyprivate is True
    assert (hooks.test_timeout_seconds, hooks.rotation_overlap_seconds) == (3.0, 3600.0)


@pytest.mark.parametrize(
    ("name", "value", "key"),
    [
        ("ALLOWED", "[not-a-network]", "dockyard.webhooks.allowed[0]"),
        ("DENIED", "['10.0.0.0/8', 'x']", "dockyard.webhooks.denied[1]"),
        ("TESTTIMEOUT", "0s", "dockyard.webhooks.testtimeout"),
        ("TESTTIMEOUT", "5m", "dockyard.webhooks.testtimeout"),
        ("ROTATIONOVERLAP", "soon", "dockyard.webhooks.rotationoverlap"),
        ("ROTATIONOVERLAP", "-1h", "dockyard.webhooks.rotationoverlap"),
    ],
)
def test_bad_values_are_refused_naming_the_key(name: str, value: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(None, {f"REGISTRY_DOCKYARD_WEBHOOKS_{name}": value})
    assert key in str(info.value)
