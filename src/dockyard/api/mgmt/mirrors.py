"""Endpoints: the pull-through cache's upstreams (``/mirrors``; system administrators only).

An upstream added here is stored in the database and served by every node within seconds;
those of the configuration file are listed (``source: config``) but cannot be removed here.
Passwords are accepted, never returned (``password_set``).
"""

from __future__ import annotations

import msgspec

from dockyard.api.mgmt.router import Call, Endpoint, Reply
from dockyard.api.mgmt.schemas import Body
from dockyard.config.mirror import BreakerSettings, UpstreamSettings
from dockyard.services.upstream.admin import MirrorAdmin, UpstreamView


class BreakerBody(Body):
    failures: int = 3
    cooldown: str = "10s"  # a duration: "10s", "1m"


class UpstreamBody(Body):
    """A new upstream; durations as in the configuration ("30s", "1h"), empty: the defaults."""

    name: str
    prefix: str  # local repositories <prefix>/... are the upstream's <remoteprefix>/...
    url: str
    remoteprefix: str = ""
    namespaces: list[str] = msgspec.field(
        default_factory=list
    )  # registry hosts the OCI ?ns= parameter names (docker.io)
    username: str = ""
    password: str = ""
    tagttl: str = ""
    staleness: str = ""
    breaker: BreakerBody | None = None


def _settings(body: UpstreamBody) -> UpstreamSettings:
    breaker = body.breaker
    return UpstreamSettings(
        name=body.name,
        prefix=body.prefix,
        url=body.url,
        remoteprefix=body.remoteprefix,
        namespaces=body.namespaces,
        username=body.username,
        password=body.password,
        tagttl=body.tagttl,
        staleness=body.staleness,
        breaker=None if breaker is None else BreakerSettings(
            failures=breaker.failures, cooldown=breaker.cooldown
        ),
    )  # fmt: skip


class Handlers:
    def __init__(self, admin: MirrorAdmin) -> None:
        self.admin = admin

    async def listing(self, call: Call) -> Reply:
        return Reply(200, await self.admin.list(call.principal))

    async def create(self, call: Call) -> Reply:
        return Reply(201, await self.admin.add(call.principal, _settings(call.body(UpstreamBody))))

    async def show(self, call: Call) -> Reply:
        return Reply(200, await self.admin.show(call.principal, call.params["name"]))

    async def remove(self, call: Call) -> Reply:
        await self.admin.remove(call.principal, call.params["name"])
        return Reply(204)

    def endpoints(self) -> list[Endpoint]:
        tag, one = "mirrors", "/mirrors/{name}"
        return [
            Endpoint("GET", "/mirrors", self.listing, "The cache's upstreams", tag,
                     response=list[UpstreamView]),
            Endpoint("POST", "/mirrors", self.create, "Add an upstream under a prefix", tag,
                     request=UpstreamBody, response=UpstreamView, status=201),
            Endpoint("GET", one, self.show, "One upstream", tag, response=UpstreamView),
            Endpoint("DELETE", one, self.remove, "Remove an upstream added here", tag,
                     status=204),
        ]  # fmt: skip


def endpoints(admin: MirrorAdmin | None) -> list[Endpoint]:
    return [] if admin is None else Handlers(admin).endpoints()
