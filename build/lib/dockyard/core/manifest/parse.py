"""Choose the manifest format from the Content-Type and the body's mediaType, then parse."""

from __future__ import annotations

import msgspec

from dockyard.core import mediatypes as mt
from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.core.jsondepth import MAX_JSON_DEPTH, JsonTooDeepError, check_json_depth
from dockyard.core.manifest.image import parse_image_manifest
from dockyard.core.manifest.index import parse_index
from dockyard.core.manifest.model import ParsedManifest


class _Envelope(msgspec.Struct):
    mediaType: str | None = None  # noqa: N815 - the wire name
    schemaVersion: int | None = None  # noqa: N815 - the wire name
    manifests: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET
    config: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET


def _read_envelope(body: bytes) -> _Envelope:
    try:
        check_json_depth(body)
    except JsonTooDeepError as exc:
        raise RegistryError(
            ErrorCode.MANIFEST_INVALID,
            f"manifest is not valid JSON: {exc}",
            detail={"maxDepth": MAX_JSON_DEPTH},
        ) from None
    try:
        return msgspec.json.decode(body, type=_Envelope)
    except msgspec.DecodeError as exc:
        raise RegistryError(
            ErrorCode.MANIFEST_INVALID, f"manifest is not valid JSON: {exc}"
        ) from None


def _choose_media_type(content_type: str, envelope: _Envelope) -> str:
    declared = envelope.mediaType
    if declared and content_type and declared != content_type:
        raise RegistryError(
            ErrorCode.MANIFEST_INVALID,
            f"Content-Type {content_type!r} does not match the manifest's mediaType {declared!r}",
        )
    media_type = declared or content_type
    if not media_type or media_type not in mt.SUPPORTED_MANIFESTS | mt.SCHEMA1:
        media_type = (
            _guess(envelope) if not media_type or media_type == "application/json" else media_type
        )
    return media_type


def _guess(envelope: _Envelope) -> str:
    if envelope.manifests is not msgspec.UNSET:
        return mt.OCI_INDEX
    if envelope.config is not msgspec.UNSET:
        return mt.OCI_MANIFEST
    return ""


def parse_manifest(body: bytes, content_type: str) -> ParsedManifest:
    """Parse a pushed manifest or raise MANIFEST_INVALID with the reason."""
    content_type = content_type.split(";", 1)[0].strip().lower()
    envelope = _read_envelope(body)
    media_type = _choose_media_type(content_type, envelope)
    if media_type in mt.SCHEMA1 or envelope.schemaVersion == 1:
        raise RegistryError(
            ErrorCode.MANIFEST_INVALID,
            "Docker schema 1 manifests are not supported; push schema 2 or OCI",
            detail={"mediaType": media_type},
        )
    if media_type in mt.IMAGE_MANIFESTS:
        return parse_image_manifest(body, media_type)
    if media_type in mt.INDEXES:
        return parse_index(body, media_type)
    raise RegistryError(
        ErrorCode.MANIFEST_INVALID,
        f"unsupported manifest media type {media_type!r}",
        detail={"supported": sorted(mt.SUPPORTED_MANIFESTS)},
    )
