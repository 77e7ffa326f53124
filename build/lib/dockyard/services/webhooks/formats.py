"""Payload formats a webhook may choose, their content types, and the renderers dockyard has.

Renderers are injected (``format -> Callable[[Event], bytes]``) by the composition root, so a
format whose renderer is not registered cannot be chosen (``distribution`` until the
notifications side registers its envelope).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from dockyard.auth.permissions import project_of
from dockyard.core.events import Event
from dockyard.core.payloads import cloudevents, harbor, registry_host

Renderer = Callable[[Event], bytes]
Renderers = Mapping[str, Renderer]

DISTRIBUTION = "distribution"
CLOUDEVENTS = "cloudevents"
HARBOR = "harbor"
FORMATS = (DISTRIBUTION, CLOUDEVENTS, HARBOR)
CONTENT_TYPES = {
    DISTRIBUTION: "application/vnd.docker.distribution.events.v1+json",
    CLOUDEVENTS: cloudevents.CONTENT_TYPE,
    HARBOR: harbor.CONTENT_TYPE,
}


class ProjectVisibility:
    """Which projects are public, as last seen with their webhooks (Harbor's ``repo_type``)."""

    def __init__(self) -> None:
        self._public: set[str] = set()

    def note(self, project: str, public: bool) -> None:
        if public:
            self._public.add(project)
        else:
            self._public.discard(project)

    def __call__(self, project: str) -> bool:
        return project in self._public


def standard_renderers(base_url: str, visibility: ProjectVisibility) -> dict[str, Renderer]:
    """The renderers dockyard ships here: CloudEvents and Harbor-style (``base_url``: the
    registry's public URL, ``http.host``; may be empty)."""
    source = base_url.rstrip("/") or cloudevents.DEFAULT_SOURCE
    host = registry_host(base_url)

    def render_cloudevent(event: Event) -> bytes:
        return cloudevents.render(event, source=source)

    def render_harbor(event: Event) -> bytes:
        public = visibility(project_of(event.repository))
        return harbor.render(event, host=host, public=public)

    return {CLOUDEVENTS: render_cloudevent, HARBOR: render_harbor}
