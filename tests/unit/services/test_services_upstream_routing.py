"""Prefix routing of the pull-through cache and the upstream specs (pure logic; the store is
an in-memory stand-in for the table, which tests/unit/persistence tests on both backends)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from dockyard.config.mirror import UpstreamSettings
from dockyard.core.errors import RegistryError
from dockyard.services.upstream.routing import MirrorRouter
from dockyard.services.upstream.specs import (
    CONFIG,
    UpstreamSpec,
    check_together,
    decode_spec,
    encode_spec,
    spec_from_settings,
)

DEFAULTS = UpstreamSpec(name="proxy", prefix="", url="")


class MemoryUpstreams:
    def __init__(self) -> None:
        self.rows: dict[str, tuple[str, str]] = {}
        self.reads = 0

    async def all_upstreams(self) -> list[tuple[str, str]]:
        self.reads += 1
        return [(name, spec) for name, (_, spec) in sorted(self.rows.items())]

    async def add_upstream(self, name: str, prefix: str, spec: str, when: float) -> bool:
        self.rows[name] = (prefix, spec)
        return True

    async def remove_upstream(self, name: str) -> bool:
        return self.rows.pop(name, None) is not None


class FakeMirror:
    def __init__(self, spec: UpstreamSpec) -> None:
        self.spec, self.closed = spec, False

    async def aclose(self) -> None:
        self.closed = True


def _spec(name: str, prefix: str, **extra: Any) -> UpstreamSpec:
    settings = UpstreamSettings(name=name, prefix=prefix, url=f"https://{name}.example", **extra)
    return spec_from_settings(
        settings, tag_ttl=0.0, staleness=60.0, breaker=DEFAULTS.breaker, source=CONFIG
    )


def test_names_map_between_the_local_prefix_and_the_upstream() -> None:
    hub = _spec("hub", "hub")
    assert hub.covers("hub/library/alpine") and not hub.covers("hub") and not hub.covers("hubx/a")
    assert hub.remote_name("hub/library/alpine") == "library/alpine"
    assert hub.local_name("library/alpine") == "hub/library/alpine"
    org = _spec("quay", "mirrors/quay", remoteprefix="org", namespaces=["Quay.IO"])
    assert org.remote_name("mirrors/quay/tool") == "org/tool"
    assert org.local_name("org/tool") == "mirrors/quay/tool"
    assert org.answers_for("quay.io") and org.answers_for("quay.example")
    assert not org.answers_for("docker.io")


def test_a_stored_spec_round_trips_with_its_password() -> None:
    spec = _spec("hub", "hub", username="u", password="p", tagttl="90s")
    back = decode_spec(encode_spec(spec), DEFAULTS)
    assert back.password == "p" and back.tag_ttl == 90 and back.staleness == 60
    assert back.source == "api" and back.prefix == "hub"


def test_colliding_specs_are_a_conflict() -> None:
    check_together([_spec("a", "a"), _spec("b", "b")])
    with pytest.raises(RegistryError) as info:
        check_together([_spec("a", "a"), _spec("b", "a/b")])
    assert info.value.code.name == "CONFLICT"


def test_the_router_rereads_the_store_when_due_and_closes_removed_mirrors() -> None:
    store = MemoryUpstreams()
    now = [0.0]
    router = MirrorRouter([_spec("hub", "hub")], store, DEFAULTS, clock=lambda: now[0])
    router.factory = FakeMirror  # type: ignore[assignment]

    async def main() -> None:
        assert (await router.route("team/app")) is None
        hub = await router.route("hub/library/alpine")
        assert hub is not None and hub.spec.name == "hub"
        await store.add_upstream("q", "q", encode_spec(_spec("q", "q")), 0.0)
        assert (await router.route("q/x")) is None  # not re-read yet
        now[0] += 10
        found = await router.route("q/x")
        assert found is not None and found.spec.source == "api"
        mirror = found.mirror
        assert (await router.route("q/y")).mirror is mirror  # type: ignore[union-attr]
        await store.remove_upstream("q")
        router.changed()  # a change made on this node: seen at once
        assert (await router.route("q/x")) is None
        assert mirror.closed  # type: ignore[attr-defined]
        store.rows["bad"] = ("bad", "{not json")  # a row this version cannot read
        store.rows["hub"] = ("hub2", encode_spec(_spec("hub", "hub2")))  # shadowed by config
        router.changed()
        assert [s.name for s in await router.specs()] == ["hub"]
        assert (await router.for_namespace("HUB.example")) is not None

    asyncio.run(main())
