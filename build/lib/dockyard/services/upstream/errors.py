"""Upstream failures as the registry errors a downstream client is answered with.

Nothing of the upstream's own answer (its error body, its auth challenge) is passed on: a
client sees a 429 with ``Retry-After`` when the upstream throttles, a 503 when it cannot be
reached, a 403 when it refused the configured credentials.
"""

from __future__ import annotations

from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.services.upstream.client import (
    UpstreamBlockedError,
    UpstreamDeniedError,
    UpstreamError,
    UpstreamThrottledError,
)

DEFAULT_RETRY_AFTER = "60"


def error_kind(error: UpstreamError) -> str:
    """The ``kind`` label of ``registry_mirror_errors_total``."""
    if isinstance(error, UpstreamThrottledError):
        return "throttled"
    if isinstance(error, UpstreamDeniedError):
        return "denied"
    if isinstance(error, UpstreamBlockedError):
        return "blocked"
    return "unavailable"


def registry_error(error: UpstreamError) -> RegistryError:
    if isinstance(error, UpstreamThrottledError):
        retry_after = error.retry_after if error.retry_after.isdigit() else DEFAULT_RETRY_AFTER
        return RegistryError(
            ErrorCode.TOOMANYREQUESTS,
            "the upstream registry is rate limiting this mirror; retry later",
            headers={"Retry-After": retry_after},
        )
    if isinstance(error, UpstreamDeniedError):
        return RegistryError(ErrorCode.DENIED, "the upstream registry refused access")
    if isinstance(error, UpstreamBlockedError):
        return RegistryError(
            ErrorCode.UNAVAILABLE,
            "the upstream registry's address is refused by dockyard.outbound (see the log)",
        )
    return RegistryError(ErrorCode.UNAVAILABLE, "the upstream registry cannot be reached")


def bad_content(what: str, digest: str) -> RegistryError:
    """The upstream sent content that does not match its digest: never cached."""
    return RegistryError(
        ErrorCode.UNAVAILABLE,
        f"the upstream registry sent a {what} that does not match its digest",
        detail={"digest": digest},
    )
