"""Quotas on the bytes each project stores, enforced before the bytes land.

A project is a repository name's first component. Its usage counts each blob once however
many of its repositories share it (``persistence/sql/usage.py``), plus its manifests, plus
the bytes of its uploads in progress. Limits come from ``dockyard.quotas`` and, overriding
those, from the database (``dockyard quota set``).

Enforcement: an upload session cannot start in a project that is full; a body whose
``Content-Length`` does not fit is refused before a byte is read; a body without one is cut
off where the quota ends. A refusal is ``DENIED`` (403) with what is used and what is left,
and the partial upload is deleted. Usage is cached for a few seconds per node (this node's
own uploads are added at once; uploads in progress anywhere are always counted), so pushes
through other nodes can overshoot a limit by about what they complete in that time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field

from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.core.sizes import format_size
from dockyard.persistence.lifecycle_records import QuotaLimitStore, UsageDetail, UsageStore
from dockyard.services.telemetry import NO_TELEMETRY, Telemetry

LIMITS_SECONDS = 5.0
USAGE_SECONDS = 5.0  # a big project's usage takes tens of ms to add up


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

    async def room(self, repository: str, *, upload_id: str = "", stored: int = 0) -> int | None:
        """Bytes an upload (that has ``stored`` bytes so far) may still add; None: no limit.

        Raises QuotaExceededError when the project is full already.
        """
        room = await self._room(repository, upload_id, stored)
        if room is not None and room.left <= 0:
            raise self._exceeded(room, "it is full")
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

    async def admit(
        self,
        repository: str,
        body: AsyncIterator[bytes],
        length: int | None,
        *,
        upload_id: str = "",
        stored: int = 0,
    ) -> AsyncIterator[bytes]:
        """``body``, refused at once if ``length`` does not fit, else cut off at the limit.

        No bytes never exceed anything: an empty ``PUT`` completing an upload that filled the
        quota exactly goes through.
        """
        room = await self._room(repository, upload_id, stored)
        if room is None or length == 0:
            return body
        if length is not None and length > room.left:
            why = f"this upload needs {format_size(length)} with {format_size(room.left)} left"
            raise self._exceeded(room, why)
        return self._cut_off(room, body)

    async def may_add(self, repository: str, digest: str, size: int) -> bool:
        """Whether linking an existing blob (a mount) fits; one the project has is free."""
        project = project_of(repository)
        limit = await self.limit(project)
        if limit is None:
            return True
        recent_after = self.wall() - self.policy.recent_seconds
        if await self.usage.counts_blob(project, digest, recent_after):
            return True
        used = await self.stored_bytes(project) + await self.usage.in_flight_bytes(project)
        return used + size <= limit

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
        names = projects if projects is not None else await self.usage.projects()
        stored = await self._database_limits(refresh=True)
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

    async def set_limit(self, project: str, limit: int | None) -> None:
        await self.limits.set_quota_limit(project, limit)
        self._limits_until = float("-inf")

    async def unset_limit(self, project: str) -> bool:
        self._limits_until = float("-inf")
        return await self.limits.unset_quota_limit(project)

    async def publish_metrics(self) -> None:
        """Refresh the usage gauges of every project that has a limit."""
        stored = await self._database_limits(refresh=True)
        candidates = set(stored) | set(self.policy.projects)
        if self.policy.default is not None:
            candidates |= set(await self.usage.projects())
        for project in sorted(candidates):
            await asyncio.sleep(0)  # one project at a time: let requests through in between
            limit = await self.limit(project)
            if limit is not None:
                self._used.pop(project, None)
                self._publish(project, await self.stored_bytes(project), limit)

    # internals ----------------------------------------------------------------------------

    async def _database_limits(self, *, refresh: bool = False) -> dict[str, int | None]:
        if refresh or self.clock() >= self._limits_until:
            self._stored_limits = await self.limits.quota_limits()
            self._limits_until = self.clock() + LIMITS_SECONDS
        return self._stored_limits

    def _exceeded(self, room: _Room, why: str) -> QuotaExceededError:
        self.telemetry.count("quota_denied", project=room.project)
        return QuotaExceededError(room.project, room.limit, room.used, why)

    async def _cut_off(self, room: _Room, body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        received = 0
        async for chunk in body:
            received += len(chunk)
            if received > max(room.left, 0):
                why = f"this upload went past the {format_size(room.left)} left"
                raise self._exceeded(room, why)
            yield chunk

    def _publish(self, project: str, used: int, limit: int) -> None:
        self.telemetry.gauge("quota_used_bytes", used, project=project)
        self.telemetry.gauge("quota_limit_bytes", limit, project=project)


def _config_source(policy: QuotaPolicy, project: str) -> str:
    return "configuration" if project in policy.projects else "default"
