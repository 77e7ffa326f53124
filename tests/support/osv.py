"""OSV records for tests, in the published schema (https://ossf.github.io/osv-schema/)."""

from __future__ import annotations

from typing import Any

import msgspec

CRITICAL_V3 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"  # 9.8
MEDIUM_V3 = "CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:L/I:L/A:N"  # 4.2


def record(
    osv_id: str,
    ecosystem: str,
    name: str,
    *,
    introduced: str = "0",
    fixed: str | None = None,
    last_affected: str | None = None,
    versions: list[str] | None = None,
    aliases: list[str] | None = None,
    vector: str | None = None,
    label: str | None = None,
    modified: str = "2026-01-01T00:00:00Z",
    withdrawn: str | None = None,
    kind: str = "ECOSYSTEM",
) -> dict[str, Any]:
    events: list[dict[str, str]] = [{"introduced": introduced}]
    if fixed is not None:
        events.append({"fixed": fixed})
    if last_affected is not None:
        events.append({"last_affected": last_affected})
    affected: dict[str, Any] = {
        "package": {"ecosystem": ecosystem, "name": name},
        "ranges": [{"type": kind, "events": events}],
    }
    if versions:
        affected["versions"] = versions
    found: dict[str, Any] = {
        "schema_version": "1.6.0",
        "id": osv_id,
        "modified": modified,
        "published": "2025-12-01T00:00:00Z",
        "aliases": aliases or [],
        "summary": f"{name} is vulnerable",
        "affected": [affected],
    }
    if vector:
        found["severity"] = [{"type": "CVSS_V3", "score": vector}]
    if label:
        found["database_specific"] = {"severity": label}
    if withdrawn:
        found["withdrawn"] = withdrawn
    return found


def encode(value: Any) -> bytes:
    return msgspec.json.encode(value)
