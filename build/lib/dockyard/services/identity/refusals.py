"""Refusals in the audit log (throttled logins, refused bearer and refresh tokens), bounded.

Anyone can make refusals without credentials, as fast as they can send requests, so they must
not turn into one database write each. :class:`RefusalAudit` records them through the audit
buffer (queued, written in batches after the response; never on the request path) and samples
them per node:

- per (event, client address): the first refusal is recorded, then at most one more per
  ``interval`` seconds; the next recorded one says in its detail how many were folded into it
  (``suppressed``);
- per node: at most ``per_interval`` refusals in all each ``interval`` seconds, whatever the
  number of addresses (an IPv6 prefix holds many); the rest are counted
  (``registry_audit_refusals_suppressed_total``) and the next recorded one says how many were
  not recorded for any address (``unrecorded``).

What it remembers is bounded too: at most ``max_addresses`` (event, address) entries.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dockyard.services.identity.audit import FAILURE
from dockyard.services.identity.audit_buffer import AuditBuffer, PendingEvent
from dockyard.services.telemetry import NO_TELEMETRY, Telemetry

INTERVAL_SECONDS = 60.0
PER_INTERVAL = 600
MAX_ADDRESSES = 10_000
TEXT_MAX = 200  # a name longer than any real one is cut


@dataclass(slots=True)
class _Seen:
    recorded_at: float
    suppressed: int = 0


@dataclass(frozen=True, slots=True)
class Refusal:
    """One refused request: ``event`` (``login.throttled``, ``token.refused``), the name it
    claimed (``actor``, may be empty) and the address it came from."""

    event: str
    actor: str
    client: str
    actor_kind: str = "anonymous"
    detail: dict[str, Any] | None = None


class RefusalAudit:
    def __init__(
        self,
        buffer: AuditBuffer,
        *,
        interval: float = INTERVAL_SECONDS,
        per_interval: int = PER_INTERVAL,
        max_addresses: int = MAX_ADDRESSES,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        telemetry: Telemetry = NO_TELEMETRY,
    ) -> None:
        self.buffer = buffer
        self.interval = interval
        self.per_interval = per_interval
        self.max_addresses = max_addresses
        self.clock = clock
        self.wall_clock = wall_clock
        self.telemetry = telemetry
        self._seen: dict[tuple[str, str], _Seen] = {}
        self._window_start = -INTERVAL_SECONDS * 2
        self._recorded_in_window = 0
        self._unrecorded = 0

    def note(self, refusal: Refusal) -> bool:
        """Queue ``refusal`` for the audit log unless it is sampled out (no I/O, no waiting);
        True when it was queued."""
        now = self.clock()
        key = (refusal.event, refusal.client)
        seen = self._seen.get(key)
        if seen is not None and now - seen.recorded_at < self.interval:
            seen.suppressed += 1
            return False
        if not self._room(now):
            self._unrecorded += 1
            self.telemetry.count("audit_refusals_suppressed")
            return False
        folded = seen.suppressed if seen is not None else 0
        self._remember(key, now)
        return self.buffer.offer(self._pending(refusal, folded))

    def _room(self, now: float) -> bool:
        if now - self._window_start >= self.interval:
            self._window_start, self._recorded_in_window = now, 0
        if self._recorded_in_window >= self.per_interval:
            return False
        self._recorded_in_window += 1
        return True

    def _remember(self, key: tuple[str, str], now: float) -> None:
        self._seen.pop(key, None)  # re-inserted last: the dict stays in recording order
        if len(self._seen) >= self.max_addresses:
            self._forget(now)
        self._seen[key] = _Seen(now)

    def _forget(self, now: float) -> None:
        """Drop entries past their interval, then the oldest ones while still too many."""
        for key in [k for k, v in self._seen.items() if now - v.recorded_at >= self.interval]:
            del self._seen[key]
        while len(self._seen) >= self.max_addresses:
            del self._seen[next(iter(self._seen))]

    def _pending(self, refusal: Refusal, folded: int) -> PendingEvent:
        detail = dict(refusal.detail or {})
        if folded:
            detail["suppressed"] = folded
        if self._unrecorded:
            detail["unrecorded"], self._unrecorded = self._unrecorded, 0
        return PendingEvent(refusal.actor[:TEXT_MAX], refusal.actor_kind, refusal.event,
                            FAILURE, "", refusal.client, detail, self.wall_clock())  # fmt: skip
