"""Harbor's Pluggable Scanner API v1.2, served by dockyard's own scanner under
``/api/v1/scanner`` (register ``https://REGISTRY/api/v1/scanner`` as the adapter URL in
Harbor: it calls ``/api/v1/metadata``, ``/api/v1/scan`` and ``/api/v1/scan/{id}/report``
below it). Answers use the API's media types and its error shape
(``{"error": {"message"}}``); the work is ``services/vulns/harbor.py``'s."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec

from dockyard.api.mgmt.router import Call, Endpoint, Reply
from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.services.vulns.harbor import REPORT_TYPES, HarborScanner, ScanRequest

BASE = "/scanner/api/v1"
METADATA_TYPE = "application/vnd.scanner.adapter.metadata+json; version=1.0"
RESPONSE_TYPE = "application/vnd.scanner.adapter.scan.response+json; version=1.0"
ERROR_TYPE = "application/vnd.scanner.adapter.error+json; version=1.0"
REFRESH_AFTER_SECONDS = 3
TAG = "harbor-scanner"


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


def _reply(status: int, media_type: str, body: Any, *headers: tuple[str, str]) -> Reply:
    encoded = msgspec.json.encode(body)
    return Reply(status, headers=(("Content-Type", media_type), *headers), stream=_once(encoded))


def _error(status: int, message: str) -> Reply:
    return _reply(status, ERROR_TYPE, {"error": {"message": message}})


def _as_error(call: Call, error: RegistryError, *, invalid: tuple[int, ...] = ()) -> Reply:
    """The API's error shape (statuses in ``invalid`` become 422, "invalid field"); a
    refused anonymous caller still gets the 401 challenge."""
    if error.code in (ErrorCode.DENIED, ErrorCode.UNAUTHORIZED) and not (
        call.principal.authenticated
    ):
        raise error
    return _error(422 if error.status in invalid else error.status, error.message)


def _wanted_report(call: Call) -> str | None:
    accept = call.request.headers.get("accept") or REPORT_TYPES[0]
    normalized = accept.replace(" ", "").lower()
    for media_type in REPORT_TYPES:
        if media_type.replace(" ", "").lower() in normalized or accept.strip() in ("*/*", ""):
            return media_type
    return None


class Handlers:
    def __init__(self, scanner: HarborScanner) -> None:
        self.scanner = scanner

    async def metadata(self, call: Call) -> Reply:
        state = await self.scanner.service.database()
        updated, version = (state.updated, state.version) if state else ("", "")
        return _reply(200, METADATA_TYPE, self.scanner.metadata(updated, version))

    async def scan(self, call: Call) -> Reply:
        try:
            request = msgspec.json.decode(call.raw_body or b"null", type=ScanRequest)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            return _error(400, f"invalid scan request: {exc}")
        try:
            scan_id = await self.scanner.accept(call.principal, request)
        except RegistryError as error:  # a bad name or digest, an unknown manifest: 422
            return _as_error(call, error, invalid=(400, 404))
        return _reply(202, RESPONSE_TYPE, {"id": scan_id})

    async def report(self, call: Call) -> Reply:
        media_type = _wanted_report(call)
        if media_type is None:
            return _error(501, "dockyard produces vulnerability reports only")
        try:
            found = await self.scanner.report(call.principal, call.params["scan_id"])
        except RegistryError as error:
            return _as_error(call, error)
        if found is None:
            return Reply(302, headers=(("Refresh-After", str(REFRESH_AFTER_SECONDS)),))
        return _reply(200, media_type, found)

    def endpoints(self) -> list[Endpoint]:
        return [
            Endpoint("GET", f"{BASE}/metadata", self.metadata,
                     "Harbor scanner API: the scanner's metadata and capabilities", TAG),
            Endpoint("POST", f"{BASE}/scan", self.scan,
                     "Harbor scanner API: queue a scan of an image manifest (pull access)",
                     TAG, status=202),
            Endpoint("GET", f"{BASE}/scan/{{scan_id}}/report", self.report,
                     "Harbor scanner API: the report, or 302 with Refresh-After while pending",
                     TAG),
        ]  # fmt: skip


def endpoints(scanner: HarborScanner | None) -> list[Endpoint]:
    return Handlers(scanner).endpoints() if scanner is not None else []
