"""The JSON Harbor's webhooks send, so receivers written for Harbor work unchanged.

``{"type", "occur_at", "operator", "event_data": {"resources": [{"digest", "tag",
"resource_url"}], "repository": {"date_created", "name", "namespace", "repo_full_name",
"repo_type"}}}``. ``type`` is Harbor's name where Harbor has the event (``PUSH_ARTIFACT``,
``DELETE_ARTIFACT``, ``PULL_ARTIFACT``, ``QUOTA_WARNING``, ``QUOTA_EXCEED``, ``PING``), else the
dockyard kind in Harbor's style (``tag.deleted`` -> ``DELETE_TAG``, ``blob.mounted`` ->
``BLOB_MOUNTED``). ``occur_at`` is seconds since the epoch; ``repo_type`` is ``public`` or
``private`` as the project is; ``date_created`` is not known to an event and is left out.
"""

from __future__ import annotations

from typing import Any

import msgspec

from dockyard.core.events import Event

CONTENT_TYPE = "application/json"

HARBOR_TYPES: dict[str, str] = {
    "manifest.pushed": "PUSH_ARTIFACT",
    "manifest.deleted": "DELETE_ARTIFACT",
    "manifest.pulled": "PULL_ARTIFACT",
    "tag.deleted": "DELETE_TAG",
    "quota.warning": "QUOTA_WARNING",
    "quota.exceeded": "QUOTA_EXCEED",
    "ping": "PING",
}

_ENCODER = msgspec.json.Encoder()


def harbor_type(kind: str) -> str:
    """Harbor's name for ``kind``; an unknown kind upper-cased (``blob.mounted`` ->
    ``BLOB_MOUNTED``)."""
    return HARBOR_TYPES.get(kind) or kind.upper().replace(".", "_")


def resource_url(host: str, repository: str, reference: str) -> str:
    """``host/repository:tag`` or ``host/repository@digest`` (no host when unknown)."""
    joiner = "@" if ":" in reference else ":"
    name = f"{host}/{repository}" if host else repository
    return f"{name}{joiner}{reference}" if reference else name


def resources(event: Event, host: str) -> list[dict[str, str]]:
    """One resource per tag the event names, else one for its digest."""
    digest = event.target.digest
    tags = event.target.tags or ("",)
    return [
        {"digest": digest, "tag": tag,
         "resource_url": resource_url(host, event.repository, tag or digest)}
        for tag in tags
    ]  # fmt: skip


def payload(event: Event, *, host: str = "", public: bool = False) -> dict[str, Any]:
    """The Harbor-style object for ``event``; ``host``: where clients pull from."""
    namespace, _, name = event.repository.partition("/")
    return {
        "type": harbor_type(str(event.kind)),
        "occur_at": int(event.time),
        "operator": event.actor or "anonymous",
        "event_data": {
            "resources": resources(event, host),
            "repository": {
                "name": name or namespace,
                "namespace": namespace,
                "repo_full_name": event.repository,
                "repo_type": "public" if public else "private",
            },
        },
    }


def render(event: Event, *, host: str = "", public: bool = False) -> bytes:
    return _ENCODER.encode(payload(event, host=host, public=public))


def decode(raw: bytes) -> Any:
    return msgspec.json.decode(raw)
