"""The quota's domain events (docs/events.md, "Quotas"), apart from the decisions themselves.

- ``quota.warning``: a project at or above ``dockyard.quotas.eventwarn`` percent of its limit,
  once per crossing on all nodes: the event is stored with a ``quota_alerts`` row, in one
  transaction, only when that row is new. The periodic gauge refresh removes the row when the
  project is below the threshold again (the next crossing warns again) and raises a warning no
  push noticed (a lowered limit), without an actor.
- ``quota.exceeded``: a refused push, stored on its own (nothing changed), at most once per
  project and process every ``EXCEEDED_EVERY`` seconds; the next event says in
  ``detail.refusals`` how many refusals it stands for.

Both are best effort: a failure to store them is logged and never fails the push or changes
the refusal.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from dockyard.core.events import DetailValue, EventKind, EventOrigin, EventTarget, new_event
from dockyard.persistence.lifecycle_records import QuotaLimitStore

log = logging.getLogger("dockyard.quotas")
EXCEEDED_EVERY = 10.0  # seconds between two quota.exceeded events of a project (per process)
SYSTEM = EventOrigin()  # the periodic refresh: no actor, no request


class QuotaAlerts:
    def __init__(
        self,
        store: QuotaLimitStore,
        percent: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.percent = percent
        self.clock = clock
        self.wall = wall
        self._alerted: set[str] = set()  # projects whose warning this process knows stored
        self._refusals: dict[str, tuple[float, int]] = {}  # project -> (last event, folded)

    def raised(self, project: str) -> bool:
        """Whether this process knows the project's warning is stored (nothing to check)."""
        return project in self._alerted

    async def after_push(self, project: str, limit: int, used: int, origin: EventOrigin) -> None:
        """A push left ``project`` at ``used`` of ``limit`` bytes."""
        if 100 * used >= self.percent * limit:
            await self._raise(project, limit, used, origin)

    async def stored(self) -> set[str]:
        """The projects whose warning is stored (read once per refresh)."""
        return set(await self.store.quota_alerts())

    async def refresh(self, project: str, limit: int, used: int, *, stored: bool) -> None:
        """The periodic look at a limited project (``stored``: its warning is): re-arm below,
        raise above; a write only when that changes something."""
        if 100 * used >= self.percent * limit:
            if not stored:
                await self._raise(project, limit, used, SYSTEM)
            return
        self._alerted.discard(project)
        if stored:
            await self.store.clear_quota_alert(project)

    async def _raise(self, project: str, limit: int, used: int, origin: EventOrigin) -> None:
        detail: dict[str, DetailValue] = {"used": used, "limit": limit, "percent": self.percent}
        target = EventTarget(project=project, detail=detail)
        event = new_event(EventKind.QUOTA_WARNING, origin, "", target, now=self.wall())
        try:
            await self.store.raise_quota_alert(project, event)
        except Exception as exc:  # the push stands; the next one (or the refresh) tries again
            log.warning("could not store a quota.warning event: %s", exc)
            return
        self._alerted.add(project)

    async def refused(
        self, repository: str, project: str, limit: int, used: int, origin: EventOrigin | None
    ) -> None:
        """A push into ``repository`` was refused for lack of room (with an ``origin``)."""
        if origin is None:
            return
        now = self.clock()
        last, folded = self._refusals.get(project, (float("-inf"), 0))
        if now - last < EXCEEDED_EVERY:
            self._refusals[project] = (last, folded + 1)
            return
        self._refusals[project] = (now, 0)
        detail: dict[str, DetailValue] = {"used": used, "limit": limit, "refusals": folded + 1}
        target = EventTarget(project=project, detail=detail)
        event = new_event(EventKind.QUOTA_EXCEEDED, origin, repository, target, now=self.wall())
        try:
            await self.store.record_event(event)
        except Exception as exc:  # the refusal stands; only its event is lost
            log.warning("could not store a quota.exceeded event: %s", exc)
