"""What a webhook's owner may configure, checked before anything is stored.

Every refusal is a ``BAD_REQUEST`` naming the field. Event types are dockyard's kinds by name:
the ones that exist today and any later one (``a.b`` of lower case words), so a webhook can
subscribe to a kind before this node emits it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from dockyard.core.delivery import RetryPolicy
from dockyard.core.errors import RegistryError
from dockyard.core.events import EventKind
from dockyard.core.patterns import PatternError, validate_pattern
from dockyard.persistence.webhook_records import WebhookSpec
from dockyard.services.identity.common import bad_request
from dockyard.services.outbound.guard import OutboundRefusedError, url_host
from dockyard.services.webhooks.formats import FORMATS

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+$")
HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$")
KNOWN_EVENT_TYPES = tuple(sorted(k.value for k in EventKind if k is not EventKind.PING))
RESERVED_HEADERS = frozenset(
    ("content-type", "content-length", "host", "user-agent", "transfer-encoding", "connection",
     "expect", "te", "upgrade")
)  # fmt: skip
URL_MAX = 2048
HEADERS_MAX = 20
HEADER_VALUE_MAX = 1024
LIST_MAX = 32
DESCRIPTION_MAX = 1000


def _field(name: str, message: str) -> RegistryError:
    return bad_request(f"{name}: {message}", field=name)


def check_name(name: str) -> str:
    if not NAME.match(name):
        raise _field("name", "1 to 64 letters, digits, . _ - (starting with a letter or digit)")
    return name


def check_url_syntax(url: str) -> str:
    if len(url) > URL_MAX:
        raise _field("url", f"longer than {URL_MAX} characters")
    try:
        url_host(url)
    except OutboundRefusedError as exc:
        raise _field("url", str(exc)) from None
    return url


def check_event_types(types: Sequence[str]) -> tuple[str, ...]:
    if not types or len(types) > LIST_MAX:
        raise _field("event_types", f"1 to {LIST_MAX} event types, e.g. {KNOWN_EVENT_TYPES}")
    for kind in types:
        if len(kind) > 64 or not EVENT_TYPE.match(kind):
            raise _field("event_types", f"not an event type: {kind[:64]!r}")
    return tuple(sorted(set(types)))


def check_format(payload_format: str, available: Sequence[str]) -> str:
    if payload_format not in FORMATS:
        raise _field("payload_format", f"unknown format {payload_format[:40]!r}; one of {FORMATS}")
    if payload_format not in available:
        raise _field("payload_format", f"the {payload_format} format is not available yet")
    return payload_format


def check_headers(headers: Sequence[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    if len(headers) > HEADERS_MAX:
        raise _field("headers", f"at most {HEADERS_MAX} headers")
    seen: set[str] = set()
    for name, value in headers:
        lower = name.lower()
        if not HEADER_NAME.match(name):
            raise _field("headers", f"not a header name: {name[:100]!r}")
        if lower in RESERVED_HEADERS or lower.startswith("webhook-") or lower in seen:
            raise _field("headers", f"{name} is set by dockyard or given twice")
        if len(value) > HEADER_VALUE_MAX:
            raise _field("headers", f"the value of {name} is longer than {HEADER_VALUE_MAX}")
        if any(c in value for c in "\r\n\0"):
            raise _field("headers", f"the value of {name} has a line break")
        seen.add(lower)
    return tuple(headers)


def check_patterns(name: str, patterns: Sequence[str]) -> tuple[str, ...]:
    """Repository patterns (relative to the project) or tag patterns (``core/patterns.py``)."""
    if len(patterns) > LIST_MAX:
        raise _field(name, f"at most {LIST_MAX} patterns")
    for pattern in patterns:
        try:
            validate_pattern(pattern)
        except PatternError as exc:
            raise _field(name, str(exc)) from None
        if pattern.startswith("/") or (name == "tags" and "/" in pattern):
            raise _field(name, f"{pattern[:80]!r}: repositories are relative to the project "
                               "and tags contain no /")  # fmt: skip
    return tuple(patterns)


def check_retry(retry: RetryPolicy) -> RetryPolicy:
    if not 1 <= retry.timeout_seconds <= 60:
        raise _field("timeout_seconds", "between 1 and 60")
    if not 0.1 <= retry.backoff_seconds <= 3600:
        raise _field("backoff_seconds", "between 0.1 and 3600")
    if not retry.backoff_seconds <= retry.max_backoff_seconds <= 86400:
        raise _field("max_backoff_seconds", "between backoff_seconds and 86400")
    if not 0 <= retry.max_attempts <= 1000:
        raise _field("max_attempts", "between 0 (never give up) and 1000")
    return retry


def check_spec(spec: WebhookSpec, available: Sequence[str]) -> WebhookSpec:
    """``spec`` normalized (event types sorted, duplicates gone), or BAD_REQUEST."""
    if len(spec.description) > DESCRIPTION_MAX:
        raise _field("description", f"longer than {DESCRIPTION_MAX} characters")
    return WebhookSpec(
        name=check_name(spec.name),
        url=check_url_syntax(spec.url),
        event_types=check_event_types(spec.event_types),
        payload_format=check_format(spec.payload_format, available),
        headers=check_headers(spec.headers),
        enabled=spec.enabled,
        repositories=check_patterns("repositories", spec.repositories),
        tags=check_patterns("tags", spec.tags),
        retry=check_retry(spec.retry),
        description=spec.description,
    )
