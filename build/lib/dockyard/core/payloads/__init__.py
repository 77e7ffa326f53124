"""Webhook payload formats: one pure renderer per format, ``Event -> bytes``.

``cloudevents``: CloudEvents 1.0 in structured JSON content mode; ``harbor``: the JSON Harbor's
webhooks send. The registry:2 (``distribution``) envelope is rendered elsewhere. Each renderer
is a function of the event and of a few fixed facts about this registry (its public address),
bound once by the composition root. Pure: nothing from dockyard but ``core``.
"""

from __future__ import annotations

import datetime


def rfc3339(seconds: float) -> str:
    """``seconds`` since the epoch as an RFC 3339 UTC time with microseconds."""
    moment = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def registry_host(base_url: str) -> str:
    """The host (and port) clients pull from, from the registry's public URL (``http.host``);
    ``""`` when none is configured."""
    rest = base_url.split("://", 1)[-1]
    return rest.split("/", 1)[0]
