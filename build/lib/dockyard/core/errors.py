"""The one table of registry error codes and the exception every layer raises.

Each code carries its HTTP status and default message, as in the OCI Distribution
specification's error code table. The API layer renders a :class:`RegistryError` as the OCI
error envelope ``{"errors": [{"code", "message", "detail"}]}``.
"""

from __future__ import annotations

from enum import Enum
from typing import Any


class ErrorCode(Enum):
    """An error code: (wire value, HTTP status, default message)."""

    BLOB_UNKNOWN = ("BLOB_UNKNOWN", 404, "blob unknown to registry")
    BLOB_UPLOAD_INVALID = ("BLOB_UPLOAD_INVALID", 400, "blob upload invalid")
    BLOB_UPLOAD_UNKNOWN = ("BLOB_UPLOAD_UNKNOWN", 404, "blob upload unknown to registry")
    DIGEST_INVALID = ("DIGEST_INVALID", 400, "provided digest did not match uploaded content")
    MANIFEST_BLOB_UNKNOWN = (
        "MANIFEST_BLOB_UNKNOWN",
        400,
        "manifest references a blob unknown to registry",
    )
    MANIFEST_INVALID = ("MANIFEST_INVALID", 400, "manifest invalid")
    MANIFEST_UNKNOWN = ("MANIFEST_UNKNOWN", 404, "manifest unknown")
    NAME_INVALID = ("NAME_INVALID", 400, "invalid repository name")
    NAME_UNKNOWN = ("NAME_UNKNOWN", 404, "repository name not known to registry")
    SIZE_INVALID = ("SIZE_INVALID", 400, "provided length did not match content length")
    TAG_INVALID = ("TAG_INVALID", 400, "manifest tag did not match URI")
    UNAUTHORIZED = ("UNAUTHORIZED", 401, "authentication required")
    DENIED = ("DENIED", 403, "requested access to the resource is denied")
    UNSUPPORTED = ("UNSUPPORTED", 405, "the operation is unsupported")
    TOOMANYREQUESTS = ("TOOMANYREQUESTS", 429, "too many requests")
    PAGINATION_NUMBER_INVALID = (
        "PAGINATION_NUMBER_INVALID",
        400,
        "invalid number of results requested",
    )
    RANGE_INVALID = ("RANGE_INVALID", 416, "invalid content range")
    UNAVAILABLE = ("UNAVAILABLE", 503, "service unavailable")
    UNKNOWN = ("UNKNOWN", 500, "unknown error")
    # the management API (/api/v1)
    BAD_REQUEST = ("BAD_REQUEST", 400, "invalid request")
    NOT_FOUND = ("NOT_FOUND", 404, "not found")
    CONFLICT = ("CONFLICT", 409, "conflict with the current state")

    @property
    def value_name(self) -> str:
        return self.value[0]

    @property
    def status(self) -> int:
        return self.value[1]

    @property
    def message(self) -> str:
        return self.value[2]


class RegistryError(Exception):
    """An error with a registry error code, safe to show to a client."""

    def __init__(
        self,
        code: ErrorCode,
        message: str | None = None,
        *,
        detail: Any = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message or code.message)
        self.code = code
        self.message = message or code.message
        self.detail = detail
        self.status = status or code.status
        self.headers = headers or {}

    def envelope(self) -> dict[str, Any]:
        """The OCI error envelope for this error."""
        entry: dict[str, Any] = {"code": self.code.value_name, "message": self.message}
        entry["detail"] = self.detail if self.detail is not None else {}
        return {"errors": [entry]}


class MigrationError(Exception):
    """A schema migration plan that cannot be carried out (``dockyard migrate --to``): a step
    that cannot be undone, or a version this dockyard does not know."""
