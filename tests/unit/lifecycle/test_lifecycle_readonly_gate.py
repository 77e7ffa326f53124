"""The read-only switch: configured or stored, cached briefly, and what it refuses."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.persistence.sql import Database
from dockyard.persistence.sql.lifecycle import SqlLifecycleStore
from dockyard.services.lifecycle.readonly import WriteGate
from dockyard.services.registry import RegistryOptions
from dockyard.services.registry.guards import ensure_delete_enabled, ensure_writable

Run = Callable[[Awaitable[Any]], Any]


def test_switch_is_seen_after_the_cache(run: Run, database: Database) -> None:
    clock = [0.0]
    store = SqlLifecycleStore(database)
    serving = WriteGate(store, ttl_seconds=2, clock=lambda: clock[0])
    admin = WriteGate(store)
    options = RegistryOptions(delete_enabled=True, runtime=serving)

    async def main() -> None:
        await ensure_writable(options)
        await admin.switch(True, reason="moving disks", by="ops")
        await ensure_writable(options)  # still cached as writable
        clock[0] += 2
        with pytest.raises(RegistryError) as refused:
            await ensure_delete_enabled(options)
        assert refused.value.code is ErrorCode.UNSUPPORTED and refused.value.status == 405
        assert refused.value.message.endswith("read-only mode for maintenance: moving disks")
        assert await serving.read_only()
        await admin.switch(False)
        clock[0] += 2
        await ensure_writable(options)
        assert (await serving.state()).reason == ""

    run(main())


def test_configured_read_only_needs_no_database(run: Run, database: Database) -> None:
    gate = WriteGate(SqlLifecycleStore(database), configured=True)
    options = RegistryOptions(read_only=True, runtime=gate)

    async def main() -> None:
        assert await gate.read_only()
        with pytest.raises(RegistryError, match="read-only mode"):
            await ensure_writable(options)

    run(main())
