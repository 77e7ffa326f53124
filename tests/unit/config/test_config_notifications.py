"""``notifications.endpoints`` and ``dockyard.events``/``outbound``: `dockyard config check`
refuses bad URLs, durations and actions with the key named; good files load typed."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from dockyard.config import ConfigError, load_settings

WriteConfig = Callable[[str], str]


def error_of(write_config: WriteConfig, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(write_config(text), {})
    return str(info.value)


def endpoint(**fields: str) -> str:
    values = {"name": "ci", "url": "http://127.0.0.1:9000/events", **fields}
    lines = "".join(f"      {key}: {value}\n" for key, value in values.items())
    return f"notifications:\n  endpoints:\n    - {lines.lstrip()}"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {"url": "ftp://host/x"},
            "notifications.endpoints[0].url: expected an http:// or https://",
        ),
        ({"url": "'http://'"}, "notifications.endpoints[0].url: expected an http"),
        ({"url": "http://host:99999/"}, "notifications.endpoints[0].url: not a valid URL"),
        ({"url": "http://u:p@host/"}, "notifications.endpoints[0].url: credentials"),
        ({"timeout": "5 parsecs"}, "notifications.endpoints[0].timeout: invalid duration"),
        ({"backoff": "-1s"}, "notifications.endpoints[0].backoff: duration must be at least zero"),
        ({"threshold": "-2"}, "notifications.endpoints[0].threshold: must be at least 0"),
        ({"name": "''"}, "notifications.endpoints[0].name: every endpoint needs a name"),
        ({"ignore": "{actions: [pushed]}"}, "notifications.endpoints[0].ignore.actions[0]"),
    ],
)
def test_bad_endpoints_are_refused_naming_the_key(
    write_config: WriteConfig, fields: dict[str, str], expected: str
) -> None:
    assert expected in error_of(write_config, endpoint(**fields))


def test_two_endpoints_with_one_name_are_refused(write_config: WriteConfig) -> None:
    text = endpoint() + "    - {name: ci, url: 'http://127.0.0.1:9001/'}\n"
    assert '"ci" is used by another endpoint' in error_of(write_config, text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("dockyard: {events: {retention: 0s}}", "dockyard.events.retention: must be above zero"),
        ("dockyard: {events: {maxbackoff: soon}}", "dockyard.events.maxbackoff: invalid"),
        ("dockyard: {events: {concurrency: 0}}", "dockyard.events.concurrency: must be at least 1"),
        ("dockyard: {events: {maxattempts: -1}}", "dockyard.events.maxattempts"),
        ("dockyard: {outbound: {allowed: [nonsense]}}", "dockyard.outbound.allowed[0]"),
    ],
)
def test_bad_delivery_settings_are_refused(
    write_config: WriteConfig, text: str, expected: str
) -> None:
    assert expected in error_of(write_config, text + "\n")


def test_a_full_endpoint_loads_with_registry2_defaults(write_config: WriteConfig) -> None:
    settings = load_settings(write_config(endpoint(timeout="500ms", backoff="''")), {})
    (ci,) = settings.notifications.endpoints
    assert (ci.timeout_seconds, ci.backoff_seconds, ci.failures_before_doubling) == (0.5, 1.0, 10)
    assert settings.dockyard.events.retention_seconds == 168 * 3600
