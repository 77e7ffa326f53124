"""Replication as the API and CLI use it: policies, runs, their history (system admins only).

A run is a row of ``replication_runs`` and a job of the queue (kind ``replication.run``): the
job's handler executes the run (runs.py), so a run survives the node that started it (the
lease lapses, another node continues, uploads resume where they stopped). A run started by a
push that fails is retried by the queue with its backoff; manual and scheduled runs are not
(the next scheduled run, a reconcile, catches up). A dry run is executed at once, in the
caller's process, and recorded as any run.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import msgspec

from dockyard.auth.policy import AccessPolicy
from dockyard.auth.principal import Principal
from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.persistence.replication_records import (
    ItemRow,
    PolicyRow,
    ReplicationStore,
    RunRow,
    RunTotals,
)
from dockyard.services.jobs.queue import JobQueue
from dockyard.services.replication.policy import Credentials, Policy, check, decode, encode
from dockyard.services.replication.runs import RunExecutor

RUN_KIND = "replication.run"
RUN_ATTEMPTS = {"manual": 3, "schedule": 3, "push": 5}  # a node that dies: others go on
ITEMS_MAX = 10000


class PolicyView(msgspec.Struct, kw_only=True):
    """A policy as readers see it: never its credentials, only whether it has some."""

    policy: Policy
    has_credentials: bool
    next_run_at: float
    created_at: float
    updated_at: float


class PolicyInput(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A policy with the peer's credentials (kept server-side, never returned)."""

    policy: Policy
    credentials: Credentials | None = None  # on a change: None keeps the stored ones


class RunView(msgspec.Struct, kw_only=True):
    id: int
    policy: str
    trigger: str
    dry_run: bool
    scope: str
    state: str
    stop_requested: bool
    job: int | None
    copied: int
    skipped: int
    failed: int
    bytes: int
    summary: str
    created_at: float
    started_at: float
    finished_at: float


class ItemView(msgspec.Struct, kw_only=True):
    source: str
    target: str
    digest: str
    outcome: str
    error: str
    bytes: int
    at: float


class RunDetail(msgspec.Struct, kw_only=True):
    run: RunView
    items: list[ItemView]


def run_view(row: RunRow) -> RunView:
    return RunView(
        id=row.id, policy=row.policy_name, trigger=row.trigger, dry_run=row.dry_run,
        scope=row.scope, state=row.state, stop_requested=row.stop_requested, job=row.job_id,
        copied=row.copied, skipped=row.skipped, failed=row.failed, bytes=row.bytes,
        summary=row.summary, created_at=row.created_at, started_at=row.started_at,
        finished_at=row.finished_at,
    )  # fmt: skip


def item_view(row: ItemRow) -> ItemView:
    return ItemView(source=row.source, target=row.target, digest=row.digest,
                    outcome=row.outcome, error=row.error, bytes=row.bytes, at=row.at)  # fmt: skip


def _view(row: PolicyRow, has_credentials: bool) -> PolicyView:
    return PolicyView(policy=decode(row.definition), has_credentials=has_credentials,
                      next_run_at=row.next_run_at, created_at=row.created_at,
                      updated_at=row.updated_at)  # fmt: skip


def _unknown(what: str, name: str) -> RegistryError:
    return RegistryError(ErrorCode.NOT_FOUND, f"no such replication {what}", detail={what: name})


class ReplicationService:
    def __init__(
        self,
        store: ReplicationStore,
        queue: JobQueue,
        access: AccessPolicy,
        executor: RunExecutor,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.queue = queue
        self.access = access
        self.executor = executor
        self.clock = clock

    # policies -----------------------------------------------------------------------------

    async def create(self, principal: Principal, given: PolicyInput) -> PolicyView:
        self.access.require_admin(principal)
        policy = check(given.policy)
        secret = msgspec.json.encode(given.credentials or Credentials()).decode()
        created = await self.store.create_policy(policy.name, encode(policy), secret,
                                                 self._next_run(policy), self.clock())  # fmt: skip
        if created is None:
            raise RegistryError(ErrorCode.CONFLICT, "a replication policy has that name",
                                detail={"policy": policy.name})  # fmt: skip
        return await self.show(principal, policy.name)

    async def change(self, principal: Principal, name: str, given: PolicyInput) -> PolicyView:
        self.access.require_admin(principal)
        row = await self._policy(name)
        policy = check(given.policy)
        if policy.name != name:
            raise RegistryError(ErrorCode.BAD_REQUEST, "a policy's name cannot change")
        secret = None
        if given.credentials is not None:
            secret = msgspec.json.encode(given.credentials).decode()
        await self.store.update_policy(row.id, encode(policy), secret, self._next_run(policy),
                                       self.clock())  # fmt: skip
        return await self.show(principal, name)

    async def policies(self, principal: Principal) -> list[PolicyView]:
        self.access.require_admin(principal)
        return [_view(row, await self._has_credentials(row.id))
                for row in await self.store.policies()]  # fmt: skip

    async def show(self, principal: Principal, name: str) -> PolicyView:
        self.access.require_admin(principal)
        row = await self._policy(name)
        return _view(row, await self._has_credentials(row.id))

    async def remove(self, principal: Principal, name: str) -> None:
        self.access.require_admin(principal)
        if not await self.store.delete_policy(name):
            raise _unknown("policy", name)

    async def _policy(self, name: str) -> PolicyRow:
        row = await self.store.policy(name)
        if row is None:
            raise _unknown("policy", name)
        return row

    async def _has_credentials(self, policy_id: int) -> bool:
        text = await self.store.credentials(policy_id)
        return bool(text) and bool(msgspec.json.decode(text, type=Credentials).username)

    async def credentials(self, policy_id: int) -> Credentials:
        """For the copy only (never rendered)."""
        text = await self.store.credentials(policy_id)
        return msgspec.json.decode(text, type=Credentials) if text else Credentials()

    def _next_run(self, policy: Policy) -> float:
        if not policy.enabled or not policy.interval_seconds:
            return 0.0
        return self.clock() + policy.interval_seconds

    # runs ---------------------------------------------------------------------------------

    async def start(self, principal: Principal, name: str, *, dry_run: bool = False) -> RunView:
        """Queue a run of ``name`` (a dry run is executed at once and returned finished)."""
        self.access.require_admin(principal)
        row = await self._policy(name)
        if dry_run:
            run_id = await self.store.create_run(row.id, "manual", True, "", self.clock())
            await self._execute(run_id)
            return await self.run(principal, run_id)
        queued = await self.enqueue_run(row, "manual")
        assert queued is not None  # its unique key is its own
        return await self.run(principal, queued)

    async def enqueue_run(
        self, row: PolicyRow, trigger: str, scope: str = "", *, unique_key: str | None = None
    ) -> int | None:
        """Record a run and queue its job; None when ``unique_key`` was queued before (the
        run recorded meanwhile is closed as a duplicate)."""
        run_id: int = await self.store.create_run(row.id, trigger, False, scope, self.clock())
        job = await self.queue.enqueue(RUN_KIND, {"run": run_id},
                                       unique_key=unique_key or f"replication-run:{run_id}",
                                       max_attempts=RUN_ATTEMPTS.get(trigger, 1))  # fmt: skip
        if job is None:
            duplicate = RunTotals("stopped", 0, 0, 0, 0, "already queued (a duplicate event)")
            await self.store.finish_run(run_id, duplicate, self.clock())
            return None
        await self.store.attach_job(run_id, job)
        return run_id

    async def runs(self, principal: Principal, name: str | None, limit: int = 50) -> list[RunView]:
        self.access.require_admin(principal)
        policy_id = None if name is None else (await self._policy(name)).id
        return [run_view(r) for r in await self.store.runs(policy_id, max(1, min(limit, 500)))]

    async def run(self, principal: Principal, run_id: int) -> RunView:
        self.access.require_admin(principal)
        row = await self.store.run(run_id)
        if row is None:
            raise _unknown("run", str(run_id))
        return run_view(row)

    async def detail(self, principal: Principal, run_id: int) -> RunDetail:
        view = await self.run(principal, run_id)
        items = [item_view(i) for i in await self.store.items(run_id, ITEMS_MAX)]
        return RunDetail(run=view, items=items)

    async def stop(self, principal: Principal, run_id: int) -> RunView:
        """Ask a run to stop: its copies stop within seconds; a queued run never starts."""
        view = await self.run(principal, run_id)
        if not await self.store.request_stop(run_id, self.clock()):
            raise RegistryError(ErrorCode.CONFLICT, f"run {run_id} is already {view.state}")
        return await self.run(principal, run_id)

    async def _execute(self, run_id: int) -> str:
        run = await self.store.run(run_id)
        if run is None:
            return f"run {run_id} is gone (its policy was removed)"
        policy_row = await self.store.policy_by_id(run.policy_id)
        if policy_row is None:
            return f"run {run_id}: its policy is gone"
        totals = await self.executor.execute(run, decode(policy_row.definition))
        return f"run {run_id} ({run.policy_name}) {totals.state}: {totals.summary}"

    async def execute(self, run_id: int) -> tuple[str, bool]:
        """Execute run ``run_id`` (the job's handler); (summary, whether it should be retried)."""
        summary = await self._execute(run_id)
        run = await self.store.run(run_id)
        retry = run is not None and run.trigger == "push" and run.state == "failed"
        return summary, retry

    # schedules ----------------------------------------------------------------------------

    async def enqueue_due(self) -> int:
        """Queue a run of every policy whose schedule is due (once among all nodes)."""
        now, queued = self.clock(), 0
        for row in await self.store.due_policies(now):
            policy = decode(row.definition)
            following = now + policy.interval_seconds if policy.interval_seconds else 0.0
            if await self.store.advance_schedule(row.id, row.next_run_at, following):
                await self.enqueue_run(row, "schedule")
                queued += 1
        return queued

    async def on_push_policies(self) -> list[tuple[PolicyRow, Policy]]:
        found = []
        for row in await self.store.policies():
            policy = decode(row.definition)
            if policy.enabled and policy.on_push and policy.direction == "push":
                found.append((row, policy))
        return found


ExecuteRun = Callable[[int], Awaitable[tuple[str, bool]]]
