"""One run of a policy: what to copy (the plan), the copies, and the run's history.

The plan lists the source's repositories and tags the policy selects (a run started by a
push names one repository and tag) and compares each with the target: a tag the target has
at the same digest is ``skipped`` (its newer referrers are still copied: that is what makes
a scheduled run a reconcile), one at another digest is copied only when the policy
overwrites, the rest are copied; target tags the source no longer has are deleted when the
policy mirrors deletions. A dry run records the plan (``planned``) and copies nothing.

Images are copied ``parallel`` at a time, their blobs too (copier.py). While the run works a
watcher reads the run's stop switch every second and cancels the copies when it is set: a
stopped run ends ``stopped`` within about a second plus the time a cancelled request takes
to close. Each image's outcome is recorded as it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from dockyard.core.errors import RegistryError
from dockyard.persistence.replication_records import ItemRow, ReplicationStore, RunRow, RunTotals
from dockyard.services.replication.attached import (
    Scope,
    copy_attached,
    is_attached_tag,
    parse_scope,
)
from dockyard.services.replication.copier import Bandwidth, Copier, Tally, checked
from dockyard.services.replication.endpoints import CopyFailedError, Endpoint
from dockyard.services.replication.filters import is_literal, selected
from dockyard.services.replication.policy import Policy, destination
from dockyard.services.upstream.client import UpstreamError

log = logging.getLogger("dockyard.replication")
STOP_POLL_SECONDS = 1.0


async def _nothing() -> None:
    return None


@dataclass(frozen=True, slots=True)
class Ends:
    """Where a run reads and writes, and what to close when it ends (the peer's client)."""

    source: Endpoint
    target: Endpoint
    close: Callable[[], Awaitable[None]] = _nothing


@dataclass(slots=True)
class _Totals:
    copied: int = 0
    skipped: int = 0
    failed: int = 0
    bytes: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, item: ItemRow) -> None:
        if item.outcome in ("copied", "deleted", "planned"):
            self.copied += 1
        elif item.outcome == "failed":
            self.failed += 1
            self.errors.append(f"{item.source}: {item.error}")
        else:
            self.skipped += 1
        self.bytes += item.bytes


@dataclass(frozen=True, slots=True)
class _Context:
    """What every image of one run shares."""

    run: RunRow
    policy: Policy
    copier: Copier
    images: asyncio.Semaphore  # images copied at once
    totals: _Totals


class RunExecutor:
    def __init__(
        self,
        store: ReplicationStore,
        ends: Callable[[RunRow, Policy], Awaitable[Ends]],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.ends = ends
        self.clock = clock

    async def execute(self, run: RunRow, policy: Policy) -> RunTotals:
        """Run ``run`` to its end and record it; its totals."""
        if not await self.store.start_run(run.id, self.clock()):
            current = await self.store.run(run.id)
            state = current.state if current is not None else "stopped"
            return RunTotals(state, 0, 0, 0, 0, "not started: the run is over or stopped")
        totals = _Totals()
        work = asyncio.ensure_future(self._work(run, policy, totals))
        watcher = asyncio.ensure_future(self._watch(run.id, work))
        state = "done"
        try:
            await work
        except asyncio.CancelledError:
            if not watcher.done():
                raise  # this process is stopping: the job is released, the run continues later
            state = "stopped"
        except (UpstreamError, CopyFailedError, RegistryError) as exc:
            totals.failed += 1
            totals.errors.append(str(exc) if not isinstance(exc, RegistryError) else exc.message)
        except Exception as exc:  # recorded as the run's failure, with its traceback in the log
            log.exception("replication run %d failed", run.id)
            totals.failed += 1
            totals.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            watcher.cancel()
        if state == "done" and totals.failed:
            state = "failed"
        return await self._finish(run.id, state, totals, dry_run=run.dry_run)

    async def _finish(
        self, run_id: int, state: str, totals: _Totals, *, dry_run: bool
    ) -> RunTotals:
        verb = "planned" if dry_run else "copied"
        summary = f"{totals.copied} {verb}, {totals.skipped} skipped, {totals.failed} failed"
        if totals.errors:
            summary += "; first error: " + totals.errors[0][:300]
        result = RunTotals(state, totals.copied, totals.skipped, totals.failed, totals.bytes,
                           summary)  # fmt: skip
        await self.store.finish_run(run_id, result, self.clock())
        return result

    async def _watch(self, run_id: int, work: asyncio.Future[None]) -> None:
        while not work.done():
            await asyncio.sleep(STOP_POLL_SECONDS)
            with contextlib.suppress(Exception):
                if await self.store.stop_requested(run_id):
                    log.info("replication run %d: stop asked; stopping its copies", run_id)
                    work.cancel()
                    return

    async def _work(self, run: RunRow, policy: Policy, totals: _Totals) -> None:
        ends = await self.ends(run, policy)
        try:
            await self._copy_all(run, policy, ends, totals)
        finally:
            await ends.close()

    async def _copy_all(self, run: RunRow, policy: Policy, ends: Ends, totals: _Totals) -> None:
        copier = Copier(ends.source, ends.target, policy.parallel, Bandwidth(policy.bandwidth),
                        policy.platforms)  # fmt: skip
        ctx = _Context(run, policy, copier, asyncio.Semaphore(policy.parallel), totals)
        scope = parse_scope(run.scope)
        tasks: list[asyncio.Task[None]] = []
        try:
            for src in await self._repositories(ends.source, policy, scope):
                tags = await ends.source.tags(src)
                copier.source_tags[src] = set(tags)
                dst = destination(policy, src)
                if scope.digest or is_attached_tag(scope.tag):
                    tasks.append(asyncio.ensure_future(self._attached(ctx, src, dst, scope)))
                    continue
                wanted = _wanted_tags(policy, tags, scope.tag)
                tasks += [asyncio.ensure_future(self._one(ctx, src, dst, tag)) for tag in wanted]
                if policy.mirror_deletions and not scope.tag:
                    await self._deletions(ctx, dst, set(wanted))
            await asyncio.gather(*tasks)
        finally:  # stopped or failed: nothing of this run goes on copying
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await copier.aclose()

    async def _repositories(self, source: Endpoint, policy: Policy, scope: Scope) -> list[str]:
        if scope.repository:
            repository = scope.repository
            return [repository] if selected(policy.repositories, repository) else []
        literal = [p for p in policy.repositories if is_literal(p)]
        if literal and len(literal) == len(policy.repositories):
            return literal  # no catalog needed (registries often refuse it)
        return [r for r in await source.repositories() if selected(policy.repositories, r)]

    async def _attached(self, ctx: _Context, src: str, dst: str, scope: Scope) -> None:
        try:
            item = await copy_attached(ctx.copier, ctx.policy, src, dst, scope,
                                       dry_run=ctx.run.dry_run)  # fmt: skip
        except (UpstreamError, CopyFailedError, RegistryError) as exc:
            error = exc.message if isinstance(exc, RegistryError) else str(exc)
            item = ItemRow(f"{src} {scope.reference}", "", "", "failed", error[:1000], 0,
                           time.time())  # fmt: skip
        ctx.totals.add(item)
        await self.store.add_items(ctx.run.id, [item])

    async def _one(self, ctx: _Context, src: str, dst: str, tag: str) -> None:
        async with ctx.images:
            item = await self._copy_one(ctx, src, dst, tag)
        ctx.totals.add(item)
        await self.store.add_items(ctx.run.id, [item])

    async def _copy_one(self, ctx: _Context, src: str, dst: str, tag: str) -> ItemRow:
        """One tag's copy (or plan), as its history row; a failure is the row's error."""
        source_ref, target_ref = f"{src}:{tag}", f"{dst}:{tag}"
        try:
            return await self._copy_tag(ctx, src, dst, tag)
        except (UpstreamError, CopyFailedError, RegistryError) as exc:
            error = exc.message if isinstance(exc, RegistryError) else str(exc)
            log.warning("replication run %d: %s failed: %s", ctx.run.id, source_ref, error)
        except Exception as exc:  # a bug or an unforeseen answer: recorded, with its traceback
            log.exception("replication run %d: %s failed", ctx.run.id, source_ref)
            error = f"{type(exc).__name__}: {exc}"
        return ItemRow(source_ref, target_ref, "", "failed", error[:1000], 0, time.time())

    async def _copy_tag(self, ctx: _Context, src: str, dst: str, tag: str) -> ItemRow:
        run, copier = ctx.run, ctx.copier
        manifest = checked(await copier.fetch(src, tag), tag)
        there = await copier.target.digest_of(dst, tag)
        item = _item(f"{src}:{tag}", f"{dst}:{tag}", manifest.digest)
        if there == manifest.digest:
            if run.dry_run:
                return item("skipped", "the target has it")
            tally = await copier.referrers_only(src, dst, manifest)  # a reconcile's part
            return item("copied", "", tally) if tally.manifests else item(
                "skipped", "the target has it", tally)  # fmt: skip
        if there is not None and not ctx.policy.overwrite:
            return item("skipped", f"the target has {there}; overwrite is off")
        if run.dry_run:
            return item("planned", "")
        return item("copied", "", await copier.copy_tag(src, dst, tag, manifest))

    async def _deletions(self, ctx: _Context, dst: str, kept: set[str]) -> None:
        run, policy, target, totals = ctx.run, ctx.policy, ctx.copier.target, ctx.totals
        for tag in await target.tags(dst):
            if tag in kept or not selected(policy.tags, tag, versions=True):
                continue
            reference = f"{dst}:{tag}"
            try:
                if run.dry_run:
                    item = ItemRow("", reference, "", "planned", "delete", 0, time.time())
                else:
                    deleted = await target.delete_tag(dst, tag)
                    outcome = "deleted" if deleted else "skipped"
                    item = ItemRow("", reference, "", outcome, "", 0, time.time())
            except (UpstreamError, CopyFailedError) as exc:
                item = ItemRow("", reference, "", "failed", str(exc)[:1000], 0, time.time())
            totals.add(item)
            await self.store.add_items(run.id, [item])


def _wanted_tags(policy: Policy, tags: list[str], only: str) -> list[str]:
    chosen = [t for t in tags if selected(policy.tags, t, versions=True)]
    chosen = [t for t in chosen if not is_attached_tag(t)]  # they follow their image
    return [t for t in chosen if t == only] if only else chosen


def _item(source: str, target: str, digest: str) -> Callable[..., ItemRow]:
    def make(outcome: str, error: str, tally: Tally | None = None) -> ItemRow:
        sent = tally.bytes if tally is not None else 0
        return ItemRow(source, target, digest, outcome, error, sent, time.time())

    return make
