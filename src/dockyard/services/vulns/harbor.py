"""dockyard's own scanner behind Harbor's Pluggable Scanner API v1.2 (the adapter side).

Harbor (or any client of that API) asks for a scan of an image manifest in this registry
(``POST /scan``), then polls for the report. A scan request becomes a ``vulns.scan`` job
(the same kind as scans on push, unique per repository and digest); the request id names the
artifact, so any node can answer the poll. The report is the image's findings in Harbor's
vulnerability report format (``HarborVulnerabilityReport``); an image scanned before (on
push, or re-evaluated by an import) is answered at once.

The caller is whoever authenticates to ``/api/v1`` (Harbor's scanner registration sends a
robot account's Basic credentials, or a personal access token as Bearer): pull access to the
repository is required. ``registry.authorization`` in the request is not used: the image is
in this registry, its packages already in the metadata database.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec

from dockyard.auth.policy import Action
from dockyard.auth.principal import Principal
from dockyard.core import mediatypes as mt
from dockyard.core.digest import is_valid_digest
from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.core.reference import validate_name
from dockyard.core.vulns.severity import SEVERITIES, rank
from dockyard.services.vulns.on_push import KIND
from dockyard.services.vulns.service import VulnService
from dockyard.services.vulns.store import Finding

Enqueue = Callable[..., Awaitable[int | None]]
SCANNABLE = (mt.OCI_MANIFEST, mt.DOCKER_MANIFEST)
REPORT_TYPES = (
    "application/vnd.security.vulnerability.report; version=1.1",
    "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0",
)
_HARBOR_SEVERITY = {s: s.capitalize() for s in SEVERITIES}


class ScanArtifact(msgspec.Struct):
    repository: str = ""
    digest: str = ""
    tag: str = ""
    mime_type: str = ""


class ScanRegistry(msgspec.Struct):
    url: str = ""
    authorization: str = ""


class ScanRequest(msgspec.Struct):
    registry: ScanRegistry
    artifact: ScanArtifact


@dataclass(frozen=True, slots=True)
class Target:
    repository: str
    digest: str


def request_id(target: Target) -> str:
    raw = f"{target.repository}@{target.digest}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def parse_request_id(value: str) -> Target | None:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    repository, _, digest = raw.partition("@")
    return Target(repository, digest) if repository and is_valid_digest(digest) else None


def _item(finding: Finding) -> dict[str, Any]:
    cve = next((a for a in finding.aliases if a.startswith("CVE-")), finding.advisory)
    item: dict[str, Any] = {
        "id": cve,
        "package": finding.package,
        "version": finding.installed,
        "fix_version": finding.fixed,
        "severity": _HARBOR_SEVERITY.get(finding.severity, "Unknown"),
        "description": finding.summary,
        "links": [f"https://osv.dev/vulnerability/{finding.advisory}"],
        "vendor_attributes": {"advisory": finding.advisory, "ecosystem": finding.ecosystem,
                              "aliases": list(finding.aliases)},
    }  # fmt: skip
    if finding.cvss_score is not None:
        version = "v3" if finding.cvss_vector.startswith("CVSS:3") else "v2"
        if not finding.cvss_vector.startswith("CVSS:4"):
            item["preferred_cvss"] = {
                f"score_{version}": finding.cvss_score,
                f"vector_{version}": finding.cvss_vector,
            }
    return item


class HarborScanner:
    def __init__(self, service: VulnService, enqueue: Enqueue | None, version: str) -> None:
        self.service, self.enqueue, self.version = service, enqueue, version

    def metadata(self, database_updated: str, database_version: str) -> dict[str, Any]:
        properties = {"harbor.scanner-adapter/scanner-type": "os-package-vulnerability"}
        if database_version:
            properties["harbor.scanner-adapter/vulnerability-database-updated-at"] = (
                database_updated
            )
            properties["dockyard/vulnerability-database-version"] = database_version
        return {
            "scanner": self.scanner(),
            "capabilities": [{
                "type": "vulnerability",
                "consumes_mime_types": list(SCANNABLE),
                "produces_mime_types": list(REPORT_TYPES),
            }],
            "properties": properties,
        }  # fmt: skip

    def scanner(self) -> dict[str, str]:
        return {"name": "dockyard", "vendor": "dockyard", "version": self.version}

    def _check(self, principal: Principal, target: Target) -> None:
        validate_name(target.repository)
        if not is_valid_digest(target.digest):
            raise RegistryError(ErrorCode.BAD_REQUEST, "artifact.digest is not a digest")
        self.service.policy.require(principal, Action.PULL, target.repository)

    async def accept(self, principal: Principal, request: ScanRequest) -> str:
        """Queue a scan of the artifact; returns the scan request id."""
        artifact = request.artifact
        if artifact.mime_type and artifact.mime_type not in SCANNABLE:
            raise RegistryError(ErrorCode.UNSUPPORTED, "only image manifests are scanned",
                                status=501)  # fmt: skip
        target = Target(artifact.repository, artifact.digest)
        self._check(principal, target)
        record = await self.service.builder.manifest(target.repository, target.digest)
        if self.enqueue is None:  # no job queue in this process: scan here
            await self.service.scan(target.repository, record.digest)
        else:
            payload = {"repository": target.repository, "digest": record.digest}
            unique = f"scan:{target.repository}@{record.digest}"
            await self.enqueue(KIND, payload, unique_key=unique)
        return request_id(target)

    async def report(self, principal: Principal, scan_id: str) -> dict[str, Any] | None:
        """The report, or None while the scan has not run yet."""
        target = parse_request_id(scan_id)
        if target is None:
            raise RegistryError(ErrorCode.NOT_FOUND, "no such scan request")
        self._check(principal, target)
        found = await self.service.report(principal, target.repository, target.digest)
        if not found.images:
            return None
        image = found.images[0]
        items = [_item(f) for f in image.findings]
        worst = max((f.severity for f in image.findings), key=rank, default="unknown")
        return {
            "generated_at": datetime.fromtimestamp(image.summary.scanned_at, UTC).isoformat(),
            "artifact": {"repository": target.repository, "digest": target.digest,
                         "mime_type": ""},
            "scanner": self.scanner(),
            "severity": _HARBOR_SEVERITY[worst],
            "vulnerabilities": items,
        }  # fmt: skip
