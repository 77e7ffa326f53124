"""Pure reading of stored manifests and image configurations into browsing records.

Stored manifests were validated when pushed; anything unexpected here (a config that is not
JSON, a field of another type) is shown as absent rather than failing the page.
"""

from __future__ import annotations

from typing import Any

import msgspec

from dockyard.core.errors import RegistryError
from dockyard.core.manifest.model import ParsedManifest
from dockyard.core.manifest.parse import parse_manifest
from dockyard.persistence.records import ReferrerRecord
from dockyard.services.browse.model import HistoryEntry, ImageConfig, Layer, Referrer

CONFIG_LIMIT = 4 * 1024 * 1024  # larger configurations are not read for display
_KINDS = (
    ("signature", ("cosign", "signature", "notary", "sigstore")),
    ("sbom", ("spdx", "cyclonedx", "sbom", "syft")),
    ("scan report", ("vulnerab", "scan", "sarif", "trivy")),
    ("attestation", ("in-toto", "intoto", "attestation", "provenance", "dsse")),
)


def parsed(content: bytes, media_type: str) -> ParsedManifest | None:
    try:
        return parse_manifest(content, media_type)
    except RegistryError:
        return None


def platform_name(platform: dict[str, object] | None) -> str:
    if not platform:
        return "unknown"
    parts = [str(platform.get(key) or "") for key in ("os", "architecture", "variant")]
    return "/".join(part for part in parts if part) or "unknown"


def own_size(manifest: ParsedManifest | None, content: bytes) -> int:
    """The manifest's bytes plus every blob it references (config and layers)."""
    if manifest is None:
        return len(content)
    return len(content) + sum(blob.size for blob in manifest.blobs)


def layers_of(manifest: ParsedManifest) -> list[Layer]:
    return [Layer(blob.digest, blob.size, blob.mediaType) for blob in manifest.blobs[1:]]


def referrer_kind(artifact_type: str) -> str:
    lowered = artifact_type.lower()
    for kind, words in _KINDS:
        if any(word in lowered for word in words):
            return kind
    return "artifact"


def referrer_of(record: ReferrerRecord) -> Referrer:
    artifact_type = str(record.artifact_type or "")
    annotations: dict[str, str] = {}
    if record.annotations_json:
        decoded = _json(record.annotations_json)
        if isinstance(decoded, dict):
            annotations = {str(k): str(v) for k, v in decoded.items()}
    return Referrer(record.digest, record.media_type, artifact_type, int(record.size),
                    referrer_kind(artifact_type), annotations)  # fmt: skip


def image_config(raw: bytes) -> ImageConfig | None:
    """The readable parts of an OCI or Docker image configuration; None if it is not one."""
    document = _json(raw)
    if not isinstance(document, dict):
        return None
    inner = document.get("config")
    settings: dict[str, Any] = inner if isinstance(inner, dict) else {}
    return ImageConfig(
        os=_text(document.get("os")),
        architecture=_text(document.get("architecture")),
        created=_text(document.get("created")),
        user=_text(settings.get("User")),
        working_dir=_text(settings.get("WorkingDir")),
        env=_texts(settings.get("Env")),
        entrypoint=_texts(settings.get("Entrypoint")),
        cmd=_texts(settings.get("Cmd")),
        exposed_ports=sorted(_keys(settings.get("ExposedPorts"))),
        labels={k: _text(v) for k, v in _mapping(settings.get("Labels")).items()},
        history=[_history(entry) for entry in _list(document.get("history"))],
    )


def _history(entry: object) -> HistoryEntry:
    found = entry if isinstance(entry, dict) else {}
    return HistoryEntry(
        created=_text(found.get("created")),
        created_by=_text(found.get("created_by")),
        empty_layer=found.get("empty_layer") is True,
        comment=_text(found.get("comment")),
    )


def _json(raw: bytes) -> object:
    try:
        return msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return None


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _texts(value: object) -> list[str]:
    return [str(item) for item in value] if isinstance(value, list) else []


def _list(value: object) -> list[object]:
    return value if isinstance(value, list) else []


def _mapping(value: object) -> dict[str, object]:
    return {str(k): v for k, v in value.items()} if isinstance(value, dict) else {}


def _keys(value: object) -> list[str]:
    return [str(key) for key in value] if isinstance(value, dict) else []
