"""CloudEvents 1.0, structured content mode (JSON): one event as one JSON object.

Required context attributes: ``specversion`` (``1.0``), ``id`` (the event's own id, the same
on every delivery attempt), ``source`` (this registry: its public URL, or ``/dockyard``) and
``type`` (``io.dockyard.`` + the event kind, e.g. ``io.dockyard.manifest.pushed``). Optional
ones set here: ``time`` (RFC 3339), ``subject`` (the repository, with ``@digest`` when the event
names one) and ``datacontenttype`` (``application/json``). ``data`` holds the event's fields.
The request carries ``Content-Type: application/cloudevents+json; charset=utf-8``.
"""

from __future__ import annotations

from typing import Any

import msgspec

from dockyard.core.events import Event
from dockyard.core.payloads import rfc3339

SPEC_VERSION = "1.0"
TYPE_PREFIX = "io.dockyard."
CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"
DEFAULT_SOURCE = "/dockyard"

_ENCODER = msgspec.json.Encoder()


def event_type(kind: str) -> str:
    return TYPE_PREFIX + kind


def subject(event: Event) -> str:
    digest = event.target.digest
    return f"{event.repository}@{digest}" if digest else event.repository


def envelope(event: Event, *, source: str = DEFAULT_SOURCE) -> dict[str, Any]:
    """The structured-mode object for ``event`` (``source``: this registry's public URL)."""
    data: dict[str, Any] = {
        "repository": event.repository,
        "target": msgspec.to_builtins(event.target),
        "actor": event.actor,
        "request_id": event.request_id,
    }
    return {
        "specversion": SPEC_VERSION,
        "id": event.id,
        "source": source or DEFAULT_SOURCE,
        "type": event_type(str(event.kind)),
        "time": rfc3339(event.time),
        "subject": subject(event),
        "datacontenttype": "application/json",
        "data": data,
    }


def render(event: Event, *, source: str = DEFAULT_SOURCE) -> bytes:
    return _ENCODER.encode(envelope(event, source=source))
