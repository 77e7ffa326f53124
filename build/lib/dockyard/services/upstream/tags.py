"""When each tag of the cache was last confirmed by the upstream.

A tag confirmed less than ``dockyard.mirror.tagttl`` ago is served without asking the
upstream; when the upstream cannot be reached (or throttles), a tag confirmed within
``dockyard.mirror.staleness`` is served as it was (stale), one confirmed longer ago is not.
Confirmations are kept in memory and in the database (``mirror_tags``), so a restarted
server still knows how old its last confirmation is; the database row is rewritten at most
once a minute per tag (or when the digest changed), not on every pull.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from dockyard.persistence.stores import MirrorTagStore

MAX_TAGS = 100_000
WRITE_EVERY = 60.0  # seconds between database writes of one tag's unchanged confirmation


class TagChecks:
    def __init__(
        self, store: MirrorTagStore | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.clock = clock
        self._memory: OrderedDict[tuple[str, str], tuple[str, float]] = OrderedDict()
        self._written: dict[tuple[str, str], tuple[str, float]] = {}

    async def confirmed(self, repository: str, tag: str, digest: str) -> None:
        key, now = (repository, tag), self.clock()
        self._remember(key, (digest, now))
        written = self._written.get(key)
        if self.store is None:
            return
        if written is None or written[0] != digest or now - written[1] >= WRITE_EVERY:
            await self.store.confirm(repository, tag, digest, now)
            self._written[key] = (digest, now)

    async def age(self, repository: str, tag: str, digest: str) -> float | None:
        """Seconds since the upstream confirmed ``tag`` -> ``digest``; None if it never did."""
        key = (repository, tag)
        found = self._memory.get(key)
        if found is None and self.store is not None:
            found = await self.store.confirmed(repository, tag)
            if found is not None:
                self._remember(key, found)
                self._written[key] = found
        if found is None or found[0] != digest:
            return None
        return max(0.0, self.clock() - found[1])

    def _remember(self, key: tuple[str, str], value: tuple[str, float]) -> None:
        self._memory[key] = value
        self._memory.move_to_end(key)
        while len(self._memory) > MAX_TAGS:
            old, _ = self._memory.popitem(last=False)
            self._written.pop(old, None)
