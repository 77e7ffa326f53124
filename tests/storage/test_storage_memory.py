"""The in-memory driver against the shared conformance suite."""

from __future__ import annotations

from pathlib import Path

from dockyard.storage.driver import StorageDriver
from dockyard.storage.drivers.memory import MemoryDriver
from dockyard.storage.testing import StorageDriverSuite


class TestMemoryDriver(StorageDriverSuite):
    def make_driver(self, tmp_path: Path) -> StorageDriver:
        return MemoryDriver()
