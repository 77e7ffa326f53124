"""Which upstream, if any, caches a repository: the prefix routes of the pull-through cache.

The upstreams are those of the configuration (``dockyard.mirror.upstreams``, fixed) and those
added at run time (the ``mirror_upstreams`` table, re-read at most every ``refresh_every``
seconds, and at once after a change made through this node). A repository below an
upstream's prefix is that upstream's: pulls go through its cache, pushes and deletes are
refused. Each upstream's :class:`~.mirror.Mirror` (its client, breaker, downloads in flight)
is built on first use and closed when the upstream is removed or changed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from dockyard.persistence.stores import MirrorUpstreamStore
from dockyard.services.upstream.mirror import Mirror
from dockyard.services.upstream.specs import UpstreamSpec, decode_spec

REFRESH_EVERY = 5.0
log = logging.getLogger("dockyard.mirror")
MirrorFactory = Callable[[UpstreamSpec], Mirror]


@dataclass(frozen=True, slots=True)
class MirrorRoute:
    spec: UpstreamSpec
    mirror: Mirror


class MirrorRouter:
    def __init__(
        self,
        configured: Sequence[UpstreamSpec],
        store: MirrorUpstreamStore | None,
        defaults: UpstreamSpec,
        *,
        refresh_every: float = REFRESH_EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.configured = tuple(configured)
        self.store = store
        self.defaults = defaults  # what a stored spec did not record
        self.refresh_every = refresh_every
        self.clock = clock
        self.factory: MirrorFactory | None = None  # set by bootstrap (attach_mirrors)
        self._stored: tuple[UpstreamSpec, ...] = ()
        self._loaded_at: float | None = None
        self._mirrors: dict[str, tuple[UpstreamSpec, Mirror]] = {}

    async def specs(self) -> tuple[UpstreamSpec, ...]:
        """Every upstream: the configured ones first, then the stored ones."""
        await self._refresh_if_due()
        return self.configured + self._stored

    async def covering(self, repository: str) -> UpstreamSpec | None:
        """The upstream whose prefix ``repository`` lies under, if any."""
        for spec in await self.specs():
            if spec.covers(repository):
                return spec
        return None

    async def route(self, repository: str) -> MirrorRoute | None:
        """The cache serving ``repository`` (None: an ordinary repository)."""
        spec = await self.covering(repository)
        return None if spec is None else MirrorRoute(spec, self._mirror(spec))

    async def for_namespace(self, host: str) -> UpstreamSpec | None:
        """The upstream the OCI ``ns`` parameter names (``docker.io``), if any."""
        for spec in await self.specs():
            if spec.answers_for(host):
                return spec
        return None

    def changed(self) -> None:
        """Re-read the stored upstreams on the next request (one was added or removed)."""
        self._loaded_at = None

    async def aclose(self) -> None:
        mirrors = [mirror for _, mirror in self._mirrors.values()]
        self._mirrors.clear()
        for mirror in mirrors:
            await mirror.aclose()

    def _mirror(self, spec: UpstreamSpec) -> Mirror:
        known = self._mirrors.get(spec.name)
        if known is not None and known[0] == spec:
            return known[1]
        if self.factory is None:
            raise RuntimeError("the mirror router was not given a factory")
        mirror = self.factory(spec)
        self._mirrors[spec.name] = (spec, mirror)
        return mirror

    async def _refresh_if_due(self) -> None:
        if self.store is None:
            return
        now = self.clock()
        if self._loaded_at is not None and now - self._loaded_at < self.refresh_every:
            return
        self._loaded_at = now
        rows = await self.store.all_upstreams()
        stored: list[UpstreamSpec] = []
        for name, text in rows:
            try:
                stored.append(decode_spec(text, self.defaults))
            except Exception as exc:  # a row this version cannot read: skip it, say so
                log.warning("stored mirror upstream %s ignored: %s", name, exc)
        taken = {spec.name for spec in self.configured}
        self._stored = tuple(spec for spec in stored if spec.name not in taken)
        await self._close_gone()

    async def _close_gone(self) -> None:
        current = {spec.name: spec for spec in self.configured + self._stored}
        for name, (spec, mirror) in list(self._mirrors.items()):
            if current.get(name) != spec:
                del self._mirrors[name]
                await mirror.aclose()
