"""Endpoints: the registry's effective settings, and switching the runtime-changeable ones
(``/system/settings``; system administrators only)."""

from __future__ import annotations

from dockyard.api.mgmt.router import Call, Endpoint, Reply
from dockyard.api.mgmt.schemas import Body
from dockyard.services.system.settings import (
    ReadOnlyChange,
    SystemSettings,
    SystemSettingsService,
)


class ReadOnlySwitch(Body):
    enabled: bool
    reason: str = ""  # shown to clients whose writes are refused


class SettingsPatch(Body):
    """Only the settings given change; every field is optional."""

    readonly: ReadOnlySwitch | None = None


class SettingsReplace(Body):
    """Every runtime-changeable setting, given in full."""

    readonly: ReadOnlySwitch


def _readonly(switch: ReadOnlySwitch | None) -> ReadOnlyChange | None:
    return None if switch is None else ReadOnlyChange(switch.enabled, switch.reason)


class Handlers:
    def __init__(self, service: SystemSettingsService) -> None:
        self.service = service

    async def get(self, call: Call) -> Reply:
        return Reply(200, await self.service.view(call.principal))

    async def patch(self, call: Call) -> Reply:
        body = call.body(SettingsPatch)
        return Reply(200, await self.service.change(call.principal, _readonly(body.readonly)))

    async def put(self, call: Call) -> Reply:
        body = call.body(SettingsReplace)
        return Reply(200, await self.service.change(call.principal, _readonly(body.readonly)))

    def endpoints(self) -> list[Endpoint]:
        path, tag, out = "/system/settings", "system", SystemSettings
        return [
            Endpoint("GET", path, self.get, "The effective settings (administrators)", tag,
                     response=out),
            Endpoint("PATCH", path, self.patch, "Change some runtime settings", tag,
                     request=SettingsPatch, response=out),
            Endpoint("PUT", path, self.put, "Set every runtime setting", tag,
                     request=SettingsReplace, response=out),
        ]  # fmt: skip


def endpoints(service: SystemSettingsService | None) -> list[Endpoint]:
    return [] if service is None else Handlers(service).endpoints()
