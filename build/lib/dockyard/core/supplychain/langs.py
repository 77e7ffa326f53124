"""Language packages: Python (``*.dist-info/METADATA``, ``*.egg-info/PKG-INFO``) and npm
(``package-lock.json``, ``node_modules/**/package.json``)."""

from __future__ import annotations

import email.parser
import re
from typing import Any

import msgspec

from dockyard.core.jsondepth import JsonTooDeepError, check_json_depth
from dockyard.core.supplychain.model import Package
from dockyard.core.supplychain.purls import package

PYTHON_METADATA = re.compile(r"(^|/)[^/]+\.(dist-info/METADATA|egg-info/PKG-INFO)$")
NPM_LOCK = re.compile(r"(^|/)package-lock\.json$")
MAX_JSON_NESTING = 256  # lockfile v1 nests two levels per dependency level
NPM_MANIFEST = re.compile(r"(^|/)node_modules/(@[^/]+/)?[^/@.][^/]*/package\.json$")


def python_package(text: str, path: str) -> list[Package]:
    headers = email.parser.HeaderParser().parsestr(text, headersonly=True)
    name, version = headers.get("Name", ""), headers.get("Version", "")
    if not name or not version:
        return []
    normalized = re.sub(r"[-_.]+", "-", str(name)).lower()
    return [package("pypi", normalized, str(version), path)]


def _json(raw: bytes) -> Any:
    """The decoded document; None for invalid JSON or one nested deeper than
    ``MAX_JSON_NESTING`` (decoders recurse per level: a crafted file must not crash them)."""
    try:
        check_json_depth(raw, MAX_JSON_NESTING)
        return msgspec.json.decode(raw)
    except (msgspec.DecodeError, JsonTooDeepError):
        return None


def npm_manifest(raw: bytes, path: str) -> list[Package]:
    data = _json(raw)
    if not isinstance(data, dict):
        return []
    name, version = data.get("name"), data.get("version")
    if not isinstance(name, str) or not isinstance(version, str) or not name or not version:
        return []
    return [package("npm", name, version, path)]


def npm_lock(raw: bytes, path: str) -> list[Package]:
    """Lockfile v2/v3 (``packages``, keyed by install path) or v1 (nested ``dependencies``)."""
    data = _json(raw)
    if not isinstance(data, dict):
        return []
    found: dict[tuple[str, str], Package] = {}
    packages = data.get("packages")
    if isinstance(packages, dict):
        for where, entry in packages.items():
            if not where or not isinstance(entry, dict) or "node_modules/" not in where:
                continue
            name = entry.get("name") or where.rsplit("node_modules/", 1)[1]
            _add(found, name, entry.get("version"), path)
    else:
        _walk_v1(data.get("dependencies"), found, path, depth=0)
    return list(found.values())


def _walk_v1(deps: object, found: dict[tuple[str, str], Package], path: str, depth: int) -> None:
    if not isinstance(deps, dict) or depth > MAX_JSON_NESTING:
        return
    for name, entry in deps.items():
        if isinstance(entry, dict):
            _add(found, name, entry.get("version"), path)
            _walk_v1(entry.get("dependencies"), found, path, depth + 1)


def _add(found: dict[tuple[str, str], Package], name: object, version: object, path: str) -> None:
    if isinstance(name, str) and isinstance(version, str) and name and version:
        found.setdefault((name, version), package("npm", name, version, path))
