"""Endpoints: the loaded vulnerability database, findings of an artifact (JSON or CSV),
summaries of a repository, scans on demand and search by advisory or CVE id. Authorization
is decided in the service (pull access to read, push access to scan; search shows only the
repositories the caller may pull)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import msgspec

from dockyard.api.mgmt.router import Call, Endpoint, Reply
from dockyard.api.mgmt.schemas import Body
from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.services.vulns import export
from dockyard.services.vulns.service import VulnService

TAG = "vulnerabilities"
CSV = "text/csv; charset=utf-8"


class DatabaseStatus(msgspec.Struct):
    database: export.DatabaseView | None  # null before the first import


class ScanRequest(Body):
    repository: str
    reference: str


class Summaries(msgspec.Struct):
    items: list[export.SummaryView]


class Hits(msgspec.Struct):
    items: list[export.HitView]


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


def _required(call: Call, *names: str) -> list[str]:
    values = [call.query(name) for name in names]
    if not all(values):
        raise RegistryError(ErrorCode.BAD_REQUEST, f"{' and '.join(names)} required")
    return values


class Handlers:
    def __init__(self, service: VulnService) -> None:
        self.service = service

    async def database(self, call: Call) -> Reply:
        state = await self.service.status(call.principal)
        return Reply(200, DatabaseStatus(export.database_json(state, time.time())))

    async def findings(self, call: Call) -> Reply:
        repository, reference = _required(call, "repository", "reference")
        wanted = call.query("format") or "json"
        if wanted not in ("json", "csv"):
            raise RegistryError(ErrorCode.BAD_REQUEST, "format must be json or csv")
        report = await self.service.report(call.principal, repository, reference)
        if wanted == "json":
            return Reply(200, export.report_json(report, time.time()))
        name = report.digest.replace(":", "-")
        headers = (
            ("Content-Type", CSV),
            ("Content-Disposition", f'attachment; filename="{name}.csv"'),
        )
        return Reply(200, headers=headers, stream=_once(export.report_csv(report).encode()))

    async def repository(self, call: Call) -> Reply:
        [repository] = _required(call, "repository")
        found = await self.service.repository_report(call.principal, repository)
        return Reply(200, Summaries([export.summary_json(s) for s in found]))

    async def scan(self, call: Call) -> Reply:
        wanted = call.body(ScanRequest)
        judged = await self.service.scan_now(call.principal, wanted.repository, wanted.reference)
        return Reply(201, Summaries([export.summary_json(s) for s in judged]))

    async def search(self, call: Call) -> Reply:
        [advisory] = _required(call, "id")
        limit = call.int_query("limit") or 100
        hits = await self.service.search(call.principal, advisory, limit)
        return Reply(200, Hits([export.hit_json(h) for h in hits]))

    def endpoints(self) -> list[Endpoint]:
        image = (
            ("repository", "string", "repository name"),
            ("reference", "string", "tag or digest"),
        )
        return [
            Endpoint("GET", "/vulnerabilities/database", self.database,
                     "The loaded vulnerability database: version, newest record, age "
                     "(any logged-in caller)",
                     TAG, response=DatabaseStatus),
            Endpoint("GET", "/vulnerabilities/findings", self.findings,
                     "Findings of an image or index, per platform (pull access); "
                     "format=csv for a CSV export",
                     TAG, response=export.ReportView, public=True,
                     query=(*image, ("format", "string", "json (default) or csv"))),
            Endpoint("GET", "/vulnerabilities/repository", self.repository,
                     "Summaries of every scanned manifest of a repository (pull access)",
                     TAG, response=Summaries, public=True,
                     query=(("repository", "string", "repository name"),)),
            Endpoint("POST", "/vulnerabilities/scans", self.scan,
                     "Scan an image or index now with the loaded database (push access)",
                     TAG, request=ScanRequest, response=Summaries, status=201),
            Endpoint("GET", "/vulnerabilities/search", self.search,
                     "Where an advisory or CVE id was found (repositories you may pull)",
                     TAG, response=Hits, public=True,
                     query=(("id", "string", "advisory id or alias, e.g. CVE-2024-3094"),
                            ("limit", "integer", "at most this many (default 100, max 1000)"))),
        ]  # fmt: skip


def endpoints(service: VulnService | None) -> list[Endpoint]:
    return Handlers(service).endpoints() if service is not None else []
