"""Repository name and tag grammar from the OCI Distribution specification."""

from __future__ import annotations

import re

from dockyard.core.errors import ErrorCode, RegistryError

NAME_MAX_LENGTH = 255
_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_NAME = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")


def validate_name(name: str) -> str:
    """Return ``name`` if it is a valid repository name, else raise NAME_INVALID."""
    if len(name) > NAME_MAX_LENGTH:
        raise RegistryError(
            ErrorCode.NAME_INVALID,
            f"repository name must not exceed {NAME_MAX_LENGTH} characters",
            detail={"length": len(name)},
        )
    if not _NAME.fullmatch(name):
        raise RegistryError(
            ErrorCode.NAME_INVALID,
            "repository name must be lower-case components separated by '/'",
            detail={"name": name[:NAME_MAX_LENGTH]},
        )
    return name


def is_valid_tag(tag: str) -> bool:
    return bool(_TAG.fullmatch(tag))


def validate_tag(tag: str) -> str:
    """Return ``tag`` if it is valid, else raise TAG_INVALID."""
    if not _TAG.fullmatch(tag):
        raise RegistryError(
            ErrorCode.TAG_INVALID,
            "tag must match [A-Za-z0-9_][A-Za-z0-9._-]{0,127}",
            detail={"tag": tag[:200]},
        )
    return tag
