"""Helpers shared by the manifest format modules."""

from __future__ import annotations

from typing import TypeVar

import msgspec

from dockyard.core.descriptors import Descriptor
from dockyard.core.digest import parse_digest
from dockyard.core.errors import ErrorCode, RegistryError

T = TypeVar("T")


def decode(body: bytes, kind: type[T]) -> T:
    """Decode ``body`` as ``kind`` or raise MANIFEST_INVALID with msgspec's reason."""
    try:
        return msgspec.json.decode(body, type=kind)
    except msgspec.ValidationError as exc:
        raise RegistryError(ErrorCode.MANIFEST_INVALID, f"manifest invalid: {exc}") from None
    except msgspec.DecodeError as exc:
        raise RegistryError(
            ErrorCode.MANIFEST_INVALID, f"manifest is not valid JSON: {exc}"
        ) from None


def check_descriptor(descriptor: Descriptor, where: str) -> Descriptor:
    """Validate a descriptor's digest and size; raise MANIFEST_INVALID naming ``where``."""
    try:
        parse_digest(descriptor.digest)
    except RegistryError as exc:
        raise RegistryError(
            ErrorCode.MANIFEST_INVALID, f"{where}: {exc.message}", detail=exc.detail
        ) from None
    if descriptor.size < 0:
        raise RegistryError(ErrorCode.MANIFEST_INVALID, f"{where}: size must not be negative")
    if not descriptor.mediaType:
        raise RegistryError(ErrorCode.MANIFEST_INVALID, f"{where}: mediaType is required")
    return descriptor


def check_schema_version(version: int) -> None:
    if version != 2:
        raise RegistryError(ErrorCode.MANIFEST_INVALID, f"schemaVersion must be 2, got {version}")
