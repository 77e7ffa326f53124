"""Quotas on the bytes each project stores, enforced before the bytes land.

A project is a repository name's first component. Its usage counts each blob once however
many of its repositories share it (``persistence/sql/usage.py``), plus its manifests, plus
the bytes of its uploads in progress. Limits come from ``dockyard.quotas`` and, overriding
those, from the database (``dockyard quota set``).

Enforcement: every request that adds bytes *holds* them first (``holding``): one database
transaction checks what the project stores, its sessions' bytes and every other hold, and
records the hold only if all of it fits, so concurrent uploads, on one node or many, can
never together pass the limit. A body whose ``Content-Length`` does not fit is refused
before a byte is read; a body without one holds room as it arrives and is cut off where no
more can be held. A refusal is ``DENIED`` (403) with what is used and what is left, and the
partial upload is deleted. A hold goes when its request ends, with its upload session
(cancel, purge), or lapses minutes after its node died. Mounts hold the blob's size while
they link it; manifests hold their size while they are recorded.

The cached usage (a few seconds per node) only serves the quick checks (a session cannot
start in a full project), the warning header and the gauges, never the decision to store.

Events (docs/events.md): a refusal is a ``quota.exceeded`` event, a push that leaves the
project at or above ``dockyard.quotas.eventwarn`` percent of its limit a ``quota.warning``
event, once per crossing (``quota_events.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field

from dockyard.auth.principal import Principal
from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.core.events import EventOrigin
from dockyard.core.sizes import format_size
from dockyard.persistence.lifecycle_records import (
    QuotaHold,
    QuotaLimitStore,
    UsageDetail,
    UsageStore,
)
from dockyard.services.events import origin_of
from dockyard.services.lifecycle.quota_events import QuotaAlerts
from dockyard.services.telemetry import NO_TELEMETRY, Telemetry

LIMITS_SECONDS = 5.0
USAGE_SECONDS = 5.0  # a big project's usage takes tens of ms to add up
HOLD_SECONDS = 300.0  # a hold its request stopped renewing (a dead node) lapses after this
RENEW_SECONDS = 60.0

log = logging.getLogger("dockyard.quotas")
Admit = Callable[[AsyncIterator[bytes]], AsyncIterator[bytes]]


def project_of(repository: str) -> str:
    return repository.split("/", 1)[0]


class QuotaExceededError(RegistryError):
    """``DENIED``: the project's quota leaves no room for these bytes."""

    def __init__(self, project: str, limit: int, used: int, why: str) -> None:
        super().__init__(
            ErrorCode.DENIED,
            f'quota of project "{project}" exceeded: {format_size(used)} of '
            f"{format_size(limit)} used, {why}; the upload was cancelled. Delete images "
            "you no longer need or ask for a larger quota",
            detail={"project": project, "limit": limit, "used": used},
        )
        self.project = project
        self.limit = limit
        self.used = used


@dataclass(frozen=True, slots=True)
class _Room:
    project: str
    limit: int
    used: int

    @property
    def left(self) -> int:
        return self.limit - self.used


@dataclass(frozen=True, slots=True)
class QuotaPolicy:
    """The configured limits (``dockyard.quotas``); None is unlimited."""

    default: int | None = None
    projects: Mapping[str, int | None] = field(default_factory=dict)
    warn_percent: int = 90
    event_percent: int = 80  # a push crossing this is a quota.warning event
    recent_seconds: float = 3600.0  # blobs linked this recently count even if unreferenced

    def configured(self, project: str) -> int | None:
        return self.projects.get(project, self.default)


@dataclass(frozen=True, slots=True)
class ProjectQuota:
    detail: UsageDetail
    limit: int | None
    source: str  # "database", "configuration" or "default"


class QuotaService:
    def __init__(
        self,
        usage: UsageStore,
        limits: QuotaLimitStore,
        policy: QuotaPolicy,
        *,
        telemetry: Telemetry = NO_TELEMETRY,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.usage = usage
        self.limits = limits
        self.policy = policy
        self.telemetry = telemetry
        self.clock = clock
        self.wall = wall
        self._stored_limits: dict[str, int | None] = {}
        self._limits_until = float("-inf")
        self._used: dict[str, tuple[float, int]] = {}
        self.alerts = QuotaAlerts(limits, policy.event_percent, clock=clock, wall=wall)

    async def limit(self, project: str) -> int | None:
        stored = await self._database_limits()
        return stored[project] if project in stored else self.policy.configured(project)

    async def stored_bytes(self, project: str) -> int:
        """Bytes the project stores (cached for a few seconds)."""
        cached = self._used.get(project)
        if cached is not None and cached[0] > self.clock():
            return cached[1]
        used = await self.usage.stored_bytes(project, self.wall() - self.policy.recent_seconds)
        self._used[project] = (self.clock() + USAGE_SECONDS, used)
        return used

    async def room(
        self,
        repository: str,
        *,
        upload_id: str = "",
        stored: int = 0,
        origin: EventOrigin | None = None,
    ) -> int | None:
        """Bytes an upload (that has ``stored`` bytes so far) may still add; None: no limit.

        Raises QuotaExceededError when the project is full already (a ``quota.exceeded``
        event attributed to ``origin``).
        """
        room = await self._room(repository, upload_id, stored)
        if room is not None and room.left <= 0:
            error = self._exceeded(room, "it is full")
            await self.refused(repository, error, origin)
            raise error
        return None if room is None else room.left

    async def _room(self, repository: str, upload_id: str, stored: int) -> _Room | None:
        project = project_of(repository)
        limit = await self.limit(project)
        if limit is None:
            return None
        used = await self.stored_bytes(project)
        room = _Room(project, limit, used + await self.usage.in_flight_bytes(project, upload_id))
        self._publish(project, room.used, limit)
        return _Room(project, limit, room.used + stored)

    @contextlib.asynccontextmanager
    async def holding(
        self,
        repository: str,
        length: int | None,
        *,
        upload_id: str = "",
        origin: EventOrigin | None = None,
    ) -> AsyncIterator[Admit]:
        """Hold room for a body of ``length`` bytes (None: held as it arrives) while the
        caller stores it, atomically against every other upload into the project (on every
        node). Yields what passes the body through: refused before a byte is read when
        ``length`` does not fit, else cut off where no more room can be held (either is a
        ``quota.exceeded`` event with an ``origin``). The hold goes on exit, when the caller
        has recorded the bytes (its session's offset, or a blob).

        No bytes never exceed anything: an empty ``PUT`` completing an upload that filled the
        quota exactly goes through.
        """
        project = project_of(repository)
        limit = await self.limit(project)
        if limit is None or length == 0:
            yield _as_is
            return
        recent_after = self.wall() - self.policy.recent_seconds
        expires_at = self.wall() + HOLD_SECONDS
        hold = QuotaHold(
            secrets.token_urlsafe(16), project, upload_id, limit, recent_after, expires_at
        )
        holder = _Holder(self, hold)
        try:
            if length is not None:
                await holder.take(length, _needs(length))
            else:
                holder.room = await self._room(repository, "", 0)
            yield holder.admit
        except QuotaExceededError as error:
            await self.refused(repository, error, origin)
            raise
        finally:
            await self.usage.release(hold.id)

    async def release_upload(self, upload_id: str) -> None:
        """Drop whatever is held for an upload session that was cancelled or purged."""
        await self.usage.release(upload_id=upload_id)

    async def counts_already(self, repository: str, digest: str) -> bool:
        """Whether linking the blob into the repository is free: the project has no limit, or
        the blob counts in it already. The limit is looked at first, so a project without
        one never pays for the (project-wide) lookup of the blob."""
        if await self.limit(project_of(repository)) is None:
            return True
        recent_after = self.wall() - self.policy.recent_seconds
        return await self.usage.counts_blob(project_of(repository), digest, recent_after)

    async def warning(self, repository: str) -> str | None:
        """A ``Warning`` header value when the project is above the warning threshold."""
        project = project_of(repository)
        limit = await self.limit(project)
        if not limit:
            return None
        used = await self.stored_bytes(project)
        percent = 100 * used / limit
        if percent < self.policy.warn_percent:
            return None
        return (
            f'299 - "project {project} has used {percent:.0f}% of its quota '
            f'({format_size(used)} of {format_size(limit)})"'
        )

    async def check_warning(self, repository: str, origin: EventOrigin) -> None:
        """After a push into ``repository``: a ``quota.warning`` event when its project is at
        or above the event threshold (cached usage; once per crossing, ``quota_events.py``)."""
        project = project_of(repository)
        if self.alerts.raised(project):
            return
        try:
            limit = await self.limit(project)
            if limit:
                used = await self.stored_bytes(project)
                await self.alerts.after_push(project, limit, used, origin)
        except Exception as exc:  # the push is stored: its warning must not fail it
            log.warning("could not check the quota of %s after a push: %s", project, exc)

    async def refused(
        self, repository: str, error: QuotaExceededError, origin: EventOrigin | None
    ) -> None:
        """A ``quota.exceeded`` event for a refused push (throttled, best effort)."""
        await self.alerts.refused(repository, error.project, error.limit, error.used, origin)

    def added(self, repository: str, size: int) -> None:
        """This node just stored ``size`` bytes in the repository's project: count them in the
        cached usage at once (a blob the project had already may count twice until the cache
        expires: the safe side)."""
        project = project_of(repository)
        cached = self._used.get(project)
        if cached is not None:
            self._used[project] = (cached[0], cached[1] + size)

    # administration (CLI) -----------------------------------------------------------------

    async def report(self, projects: list[str] | None = None) -> list[ProjectQuota]:
        stored = await self._database_limits(refresh=True)
        names = projects if projects is not None else await self._reported_projects(stored)
        recent_after = self.wall() - self.policy.recent_seconds
        reports = []
        for project in names:
            detail = await self.usage.usage_detail(project, recent_after)
            limit = await self.limit(project)
            source = "database" if project in stored else _config_source(self.policy, project)
            reports.append(ProjectQuota(detail, limit, source))
            if limit is not None:
                self._publish(project, detail.stored_bytes, limit)
        return reports

    async def set_limit(
        self, project: str, limit: int | None, *, by: Principal | None = None
    ) -> None:
        """Store the project's limit (a ``quota.changed`` event attributed to ``by``)."""
        origin = None if by is None else origin_of(by)
        await self.limits.set_quota_limit(project, limit, origin=origin)
        self._limits_until = float("-inf")

    async def unset_limit(self, project: str, *, by: Principal | None = None) -> bool:
        self._limits_until = float("-inf")
        origin = None if by is None else origin_of(by)
        return await self.limits.unset_quota_limit(project, origin=origin)

    async def publish_metrics(self) -> None:
        """Refresh the usage gauges of every project that has a limit, and its quota alert
        (cleared below the event threshold, raised above it, by no actor)."""
        stored = await self._database_limits(refresh=True)
        candidates = set(stored) | set(self.policy.projects)
        if self.policy.default is not None:
            candidates |= set(await self.usage.projects())
        alerted = await self.alerts.stored()
        for project in sorted(candidates):
            await asyncio.sleep(0)  # one project at a time: let requests through in between
            limit = await self.limit(project)
            if limit is not None:
                self._used.pop(project, None)
                used = await self.stored_bytes(project)
                self._publish(project, used, limit)
                await self.alerts.refresh(project, limit, used, stored=project in alerted)

    # internals ----------------------------------------------------------------------------

    async def _reported_projects(self, stored: Mapping[str, int | None]) -> list[str]:
        """Projects that store something, and those given a limit before they store anything."""
        with_data = await self.usage.projects()
        return sorted(set(with_data) | set(stored) | set(self.policy.projects))

    async def _database_limits(self, *, refresh: bool = False) -> dict[str, int | None]:
        if refresh or self.clock() >= self._limits_until:
            self._stored_limits = await self.limits.quota_limits()
            self._limits_until = self.clock() + LIMITS_SECONDS
        return self._stored_limits

    def _exceeded(self, room: _Room, why: str) -> QuotaExceededError:
        self.telemetry.count("quota_denied", project=room.project)
        return QuotaExceededError(room.project, room.limit, room.used, why)

    def _publish(self, project: str, used: int, limit: int) -> None:
        self.telemetry.gauge("quota_used_bytes", used, project=project)
        self.telemetry.gauge("quota_limit_bytes", limit, project=project)


def _config_source(policy: QuotaPolicy, project: str) -> str:
    return "configuration" if project in policy.projects else "default"


class _Holder:
    """One request's hold. A known length is held before the body is read; a body without one
    is held once it has arrived (refused then if it does not fit), and while it streams it is
    cut off where the room counted at its start ends. Renewed while the request lives: the
    hold of a request whose node died lapses after ``HOLD_SECONDS``."""

    def __init__(self, service: QuotaService, hold: QuotaHold) -> None:
        self.service = service
        self.hold = hold
        self.held = 0
        self.room: _Room | None = None  # a body of unknown length: what was left at its start
        self.renew_at = service.clock() + RENEW_SECONDS

    async def take(self, amount: int, why: Callable[[int], str]) -> None:
        held, used = await self.service.usage.reserve(self.hold, amount, amount)
        room = _Room(self.hold.project, self.hold.limit, used)
        self.service._publish(room.project, used, room.limit)
        if held < 0:
            raise self.service._exceeded(room, why(room.left))
        self.held = held

    async def admit(self, body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        received = 0
        async for chunk in body:
            received += len(chunk)
            self._check(received)
            if self.held and self.service.clock() >= self.renew_at:
                await self._renew()
            yield chunk
        if received > self.held:
            await self.take(received, _went_past)  # before the caller records the bytes

    def _check(self, received: int) -> None:
        room = self.room or _Room(self.hold.project, self.hold.limit, self.hold.limit - self.held)
        if received > max(room.left, 0):
            raise self.service._exceeded(room, _went_past(room.left))

    async def _renew(self) -> None:
        self.renew_at = self.service.clock() + RENEW_SECONDS
        self.hold = dataclasses.replace(self.hold, expires_at=self.service.wall() + HOLD_SECONDS)
        if not await self.service.usage.renew(self.hold.id, self.hold.expires_at):
            await self.take(self.held, _went_past)  # it lapsed: hold it again


def _as_is(body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    return body


def _needs(length: int) -> Callable[[int], str]:
    return lambda left: f"this upload needs {format_size(length)} with {format_size(left)} left"


def _went_past(left: int) -> str:
    return f"this upload went past the {format_size(left)} left"
