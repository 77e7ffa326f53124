"""The gauges the shipped alert rules read: room on the storage's filesystem, open upload
sessions and their age, and failing health checks (on a real SQLite database and disk)."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from dockyard.persistence.records import UploadRecord
from dockyard.persistence.sql import SqlMetadata
from dockyard.persistence.sql.backup import SqlBlobHolds
from dockyard.persistence.sqlite import SqliteDatabase
from dockyard.services.system.health import HealthMonitor
from dockyard.services.system_gauges import SystemGauges
from dockyard.storage.drivers.filesystem import FilesystemDriver
from dockyard.storage.drivers.memory import MemoryDriver

Run = Callable[[Awaitable[Any]], Any]
NOW = 1_000_000.0


class Gauges:
    def __init__(self) -> None:
        self.values: dict[tuple[str, str], float] = {}

    def count(self, name: str, amount: float = 1.0, **labels: str) -> None:
        raise AssertionError("gauges only")

    def gauge(self, name: str, value: float, **labels: str) -> None:
        self.values[(name, labels.get("check", ""))] = value


def test_storage_room_and_open_uploads(tmp_path: Path, run: Run) -> None:
    metadata = SqlMetadata(SqliteDatabase(str(tmp_path / "metadata.db")))
    root = tmp_path / "storage"  # not made yet: measured on the filesystem that will hold it
    telemetry = Gauges()
    gauges = SystemGauges(FilesystemDriver(str(root)), metadata.uploads, None, telemetry,
                          clock=lambda: NOW)  # fmt: skip

    async def main() -> None:
        await gauges.publish()
        assert telemetry.values[("uploads_open", "")] == 0
        assert telemetry.values[("uploads_oldest_seconds", "")] == 0
        for upload_id, started in (("a" * 32, NOW - 300), ("b" * 32, NOW - 20)):
            await metadata.uploads.create(UploadRecord(upload_id, "r", "", 0, started, NOW))
        await gauges.publish()
        assert telemetry.values[("uploads_open", "")] == 2
        assert telemetry.values[("uploads_oldest_seconds", "")] == 300

    run(main())
    stats = os.statvfs(tmp_path)
    size = telemetry.values[("storage_size_bytes", "")]
    assert size == stats.f_blocks * stats.f_frsize
    free = telemetry.values[("storage_free_bytes", "")]
    assert 0 < free <= size


def test_object_stores_report_no_room_and_health_checks_report_failing(
    tmp_path: Path, run: Run
) -> None:
    metadata = SqlMetadata(SqliteDatabase(str(tmp_path / "metadata.db")))

    async def broken() -> None:
        raise OSError("bucket gone")

    async def fine() -> None:
        return None

    health = HealthMonitor({"storage": broken, "database": fine}, threshold=2)
    telemetry = Gauges()
    gauges = SystemGauges(MemoryDriver(), metadata.uploads, health, telemetry)

    async def main() -> None:
        await health.check_once()
        await gauges.publish()
        assert telemetry.values[("health_check_failing", "storage")] == 0  # once is not enough
        await health.check_once()
        await gauges.publish()
        assert telemetry.values[("health_check_failing", "storage")] == 1
        assert telemetry.values[("health_check_failing", "database")] == 0

    run(main())
    assert ("storage_free_bytes", "") not in telemetry.values


def test_the_last_complete_backup_is_reported_once_there_is_one(tmp_path: Path, run: Run) -> None:
    database = SqliteDatabase(str(tmp_path / "metadata.db"))
    holds = SqlBlobHolds(database)
    telemetry = Gauges()
    gauges = SystemGauges(MemoryDriver(), SqlMetadata(database).uploads, None, telemetry,
                          last_backup=holds.last_success)  # fmt: skip

    async def main() -> None:
        await gauges.publish()
        assert ("backup_last_success_timestamp_seconds", "") not in telemetry.values
        await holds.record_success("20261207-0100", NOW - 60)
        await holds.record_success("20261207-0200", NOW)  # the newest one wins
        await gauges.publish()

    run(main())
    assert telemetry.values[("backup_last_success_timestamp_seconds", "")] == NOW
