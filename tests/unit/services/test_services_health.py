"""health.storagedriver: the probe loop's counting (pure logic) and the settings it reads."""

from __future__ import annotations

import asyncio

import pytest

from dockyard.config.errors import ConfigError
from dockyard.config.health import StorageHealth, storage_health
from dockyard.services.system.health import HealthMonitor


class Switch:
    """A probe that fails while ``down`` is set."""

    def __init__(self) -> None:
        self.down = False
        self.calls = 0

    async def __call__(self) -> None:
        self.calls += 1
        if self.down:
            raise ConnectionError("backend gone")


def test_a_check_fails_only_after_threshold_failures_in_a_row_and_recovers_at_once() -> None:
    database, storage = Switch(), Switch()
    monitor = HealthMonitor({"database": database, "storage": storage}, 1.0, threshold=3)

    async def scenario() -> list[dict[str, str]]:
        seen = []
        await monitor.check_once()
        seen.append(monitor.problems())
        database.down = True
        for _ in range(3):
            await monitor.check_once()
            seen.append(monitor.problems())
        database.down = False
        await monitor.check_once()
        seen.append(monitor.problems())
        return seen

    seen = asyncio.run(scenario())
    failing = {"database": "ConnectionError: backend gone"}
    assert seen == [{}, {}, {}, failing, {}]
    assert database.calls == storage.calls == 5


def test_checks_name_every_probe() -> None:
    broken = Switch()
    broken.down = True
    monitor = HealthMonitor({"database": Switch(), "storage": broken}, 1.0, threshold=1)
    asyncio.run(monitor.check_once())
    assert monitor.checks() == {"database": "ok", "storage": "ConnectionError: backend gone"}


def test_a_probe_that_hangs_counts_as_a_failure() -> None:
    async def hangs() -> None:
        await asyncio.sleep(60)

    monitor = HealthMonitor({"storage": hangs}, 0.05, threshold=1)
    asyncio.run(monitor.check_once())
    assert monitor.problems() == {"storage": "TimeoutError"}


def test_settings_default_off_and_read_registry2_keys() -> None:
    assert storage_health({}) == StorageHealth(False, 10.0, 3)
    raw = {"storagedriver": {"enabled": True, "interval": "30s", "threshold": 5}}
    assert storage_health(raw) == StorageHealth(True, 30.0, 5)
    from_env = {"storagedriver": {"enabled": "true", "interval": "250ms", "threshold": "2"}}
    assert storage_health(from_env) == StorageHealth(True, 0.25, 2)


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        ({"storagedriver": "yes"}, "health.storagedriver"),
        ({"storagedriver": {"enabled": "maybe"}}, "enabled"),
        ({"storagedriver": {"interval": "soon"}}, "interval"),
        ({"storagedriver": {"interval": "0s"}}, "interval"),
        ({"storagedriver": {"threshold": 0}}, "threshold"),
        ({"storagedriver": {"threshold": "many"}}, "threshold"),
    ],
)
def test_bad_settings_are_refused_naming_the_key(raw: dict[str, object], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        storage_health(raw)
