"""What the replication store keeps (rows of ``replication_*``), as plain records."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class PolicyRow:
    id: int
    name: str
    definition: str  # the policy as JSON (no credentials)
    next_run_at: float
    created_at: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class RunRow:
    id: int
    policy_id: int
    policy_name: str
    trigger: str
    dry_run: bool
    scope: str  # "" (the whole policy) or the one repository an event names
    state: str
    stop_requested: bool
    job_id: int | None
    copied: int
    skipped: int
    failed: int
    bytes: int
    summary: str
    created_at: float
    started_at: float
    finished_at: float


@dataclass(frozen=True, slots=True)
class ItemRow:
    source: str
    target: str
    digest: str
    outcome: str  # copied, skipped, failed, deleted, planned
    error: str = ""
    bytes: int = 0
    at: float = 0.0


@dataclass(frozen=True, slots=True)
class RunTotals:
    state: str
    copied: int
    skipped: int
    failed: int
    bytes: int
    summary: str


class ReplicationStore(Protocol):
    """The replication tables (``persistence/sql/replication.py``)."""

    async def create_policy(
        self, name: str, definition: str, credentials: str, next_run_at: float, now: float
    ) -> int | None: ...
    async def update_policy(
        self, policy_id: int, definition: str, credentials: str | None, next_run_at: float,
        now: float,
    ) -> bool: ...  # fmt: skip
    async def policy(self, name: str) -> PolicyRow | None: ...
    async def policy_by_id(self, policy_id: int) -> PolicyRow | None: ...
    async def policies(self) -> list[PolicyRow]: ...
    async def credentials(self, policy_id: int) -> str: ...
    async def delete_policy(self, name: str) -> bool: ...
    async def due_policies(self, now: float) -> list[PolicyRow]: ...
    async def advance_schedule(
        self, policy_id: int, expected: float, next_run_at: float
    ) -> bool: ...
    async def create_run(
        self, policy_id: int, trigger: str, dry_run: bool, scope: str, now: float
    ) -> int: ...
    async def attach_job(self, run_id: int, job_id: int) -> None: ...
    async def start_run(self, run_id: int, now: float) -> bool: ...
    async def finish_run(self, run_id: int, totals: RunTotals, now: float) -> None: ...
    async def request_stop(self, run_id: int, now: float) -> bool: ...
    async def stop_requested(self, run_id: int) -> bool: ...
    async def run(self, run_id: int) -> RunRow | None: ...
    async def runs(self, policy_id: int | None, limit: int) -> list[RunRow]: ...
    async def add_items(self, run_id: int, items: Sequence[ItemRow]) -> None: ...
    async def items(self, run_id: int, limit: int) -> list[ItemRow]: ...
    async def upload(self, policy_id: int, repository: str, digest: str) -> str | None: ...
    async def remember_upload(
        self, policy_id: int, repository: str, digest: str, location: str, now: float
    ) -> None: ...
    async def forget_upload(self, policy_id: int, repository: str, digest: str) -> None: ...
