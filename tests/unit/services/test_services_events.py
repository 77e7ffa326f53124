"""The origin services attach to the events of a change: who (an authenticated principal's
name, nobody for an anonymous caller) and under which request."""

from __future__ import annotations

from dockyard.auth.principal import ANONYMOUS, Principal
from dockyard.core.events import EventOrigin
from dockyard.services.events import origin_of


def test_the_origin_names_an_authenticated_principal_only() -> None:
    assert origin_of(Principal("bob"), "r1") == EventOrigin("bob", "r1")
    assert origin_of(ANONYMOUS, "r2") == EventOrigin(None, "r2")
    assert origin_of(Principal("", authenticated=False)).actor is None
