"""Read-only maintenance mode, switched without a restart.

The registry is read-only when the configuration says so (``storage.maintenance.readonly
.enabled``) or when the database does (``dockyard maintenance readonly on``). Every write
(push, delete) asks :meth:`WriteGate.require_writable`; the database setting is re-read at most
every ``ttl_seconds`` per process, so a switch reaches every node and worker within seconds.
Reads are never affected. Scheduled jobs do not run while the registry is read-only.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from dockyard.auth.principal import Principal
from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.core.events import EventKind
from dockyard.persistence.lifecycle_records import SystemSettingsStore
from dockyard.services.events import change_event

SETTING = "maintenance.readonly"
REASON = "maintenance.readonly.reason"
CACHE_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class ReadOnlyState:
    configured: bool  # storage.maintenance.readonly.enabled
    switched: bool  # dockyard maintenance readonly on
    reason: str = ""

    @property
    def read_only(self) -> bool:
        return self.configured or self.switched


class WriteGate:
    def __init__(
        self,
        store: SystemSettingsStore,
        *,
        configured: bool = False,
        ttl_seconds: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.configured = configured
        self.ttl_seconds = ttl_seconds
        self.clock = clock
        self._state = ReadOnlyState(configured, False)
        self._fresh_until = float("-inf")

    async def state(self) -> ReadOnlyState:
        if self.clock() >= self._fresh_until:
            switched = await self.store.get_setting(SETTING) == "on"
            reason = (await self.store.get_setting(REASON) or "") if switched else ""
            self._state = ReadOnlyState(self.configured, switched, reason)
            self._fresh_until = self.clock() + self.ttl_seconds
        return self._state

    async def read_only(self) -> bool:
        return self.configured or (await self.state()).read_only

    async def require_writable(self) -> None:
        """Raise the read-only error (405 ``UNSUPPORTED``, as registry:2) when writes are off."""
        if self.configured:
            return  # the configured flag is checked by guards.require_writable, as before
        state = await self.state()
        if state.switched:
            suffix = f": {state.reason}" if state.reason else ""
            raise RegistryError(
                ErrorCode.UNSUPPORTED,
                f"the registry is in read-only mode for maintenance{suffix}",
                status=405,
            )

    async def switch(
        self, on: bool, *, reason: str = "", by: str = "", actor: Principal | None = None
    ) -> None:
        """Switch read-only mode on or off; with an ``actor``, a ``policy.changed`` event
        (``name`` ``readonly``) in the same transaction."""
        event = None
        if actor is not None:
            kind = EventKind.POLICY_CHANGED
            event = change_event(actor, kind, name="readonly", readonly=on, reason=reason)
        values = {REASON: reason if on else "", SETTING: "on" if on else "off"}
        await self.store.set_settings(values, by=by, event=event)
        self._fresh_until = float("-inf")
