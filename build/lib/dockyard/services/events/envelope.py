"""Distribution's notification envelope for one dockyard event.

The fields and their order follow CNCF Distribution 2.8 (``notifications/event.go``):
``id``, ``timestamp``, ``action``, ``target`` (``mediaType``, ``size``, ``digest``,
``length``, ``repository``, ``fromRepository``, ``url``, ``tag``, ``references``),
``request`` (``id``, ``addr``, ``host``, ``method``, ``useragent``), ``actor`` (``name``) and
``source`` (``addr``, ``instanceID``). Empty fields are left out as Distribution leaves them
out, except ``request.id``, ``request.method`` and ``request.useragent``, which it always sends.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec

from dockyard.core.events import Event, EventTarget

# dockyard's kinds as Distribution's actions; kinds not listed are not sent as notifications
ACTIONS = {
    "manifest.pushed": "push",
    "manifest.pulled": "pull",
    "manifest.deleted": "delete",
    "tag.deleted": "delete",
    "blob.pushed": "push",
    "blob.pulled": "pull",
    "blob.mounted": "mount",
    "blob.deleted": "delete",
}
_MANIFEST_KINDS = frozenset({"manifest.pushed", "manifest.pulled"})
_BLOB_KINDS = frozenset({"blob.pushed", "blob.pulled", "blob.mounted"})
_ENCODER = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class EnvelopeContext:
    """What the envelope says about this registry."""

    source_addr: str  # this node: hostname and port, as registry:2 reports it
    instance_id: str  # this process; changes on every restart, as in registry:2
    base_url: str = ""  # ``http.host``; empty: the scheme and Host of the event's request
    include_references: bool = False  # ``notifications.events.includereferences``


def action_of(kind: str) -> str | None:
    return ACTIONS.get(kind)


def envelope(event: Event, context: EnvelopeContext) -> bytes:
    """The request body for ``event``: ``{"events": [<one event>]}``."""
    return _ENCODER.encode({"events": [record(event, context)]})


def record(event: Event, context: EnvelopeContext) -> dict[str, Any]:
    kind = event.kind.value
    return {
        "id": event.id,
        "timestamp": timestamp(event.time),
        "action": ACTIONS.get(kind, kind),
        "target": _target(event, context),
        "request": _request(event),
        "actor": {"name": event.actor} if event.actor else {},
        "source": {"addr": context.source_addr, "instanceID": context.instance_id},
    }


def timestamp(seconds: float) -> str:
    """RFC 3339 in UTC with the fraction trimmed, as Go's ``time.Time`` marshals it."""
    moment = datetime.fromtimestamp(seconds, UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f"{moment.microsecond:06d}".rstrip("0")
    return f"{text}.{fraction}Z" if fraction else f"{text}Z"


def _target(event: Event, context: EnvelopeContext) -> dict[str, Any]:
    kind, target = event.kind.value, event.target
    if kind == "tag.deleted":
        return _compact({"repository": event.repository, "tag": _first(target.tags)})
    if kind in _MANIFEST_KINDS or kind in _BLOB_KINDS:
        return _described(event, context)
    return _compact({"digest": target.digest, "repository": event.repository})


def _described(event: Event, context: EnvelopeContext) -> dict[str, Any]:
    target, kind = event.target, event.kind.value
    path = "manifests" if kind in _MANIFEST_KINDS else "blobs"
    found: dict[str, Any] = {
        "mediaType": target.media_type,
        "size": target.size,
        "digest": target.digest,
        "length": target.size,
        "repository": event.repository,
        "fromRepository": target.source,
        "url": _url(event, context, f"/v2/{event.repository}/{path}/{target.digest}"),
        "tag": _first(target.tags) if kind in _MANIFEST_KINDS else "",
    }
    if context.include_references and kind in _MANIFEST_KINDS:
        found["references"] = _references(target)
    return _compact(found)


def _references(target: EventTarget) -> list[dict[str, Any]]:
    return [
        _compact({"mediaType": r.media_type, "size": r.size, "digest": r.digest})
        for r in target.references
    ]


def _url(event: Event, context: EnvelopeContext, path: str) -> str:
    if context.base_url:
        return context.base_url.rstrip("/") + path
    request = event.request
    if request is None or not request.host:
        return ""
    return f"{request.scheme or 'http'}://{request.host}{path}"


def _request(event: Event) -> dict[str, Any]:
    request = event.request
    found: dict[str, Any] = {"id": event.request_id}
    if request is not None and request.addr:
        found["addr"] = request.addr
    if request is not None and request.host:
        found["host"] = request.host
    found["method"] = "" if request is None else request.method
    found["useragent"] = "" if request is None else request.useragent
    return found


def _first(values: tuple[str, ...]) -> str:
    return values[0] if values else ""


def _compact(fields: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value not in ("", 0, None, [])}
