"""The delivery engine: from the outbox to every subscription that wants each event.

One step, :meth:`DeliveryEngine.run_once`, does a round of everything and can run on any node
at any time (today a loop in ``dockyard serve``; at merge a job on the queue):

1. **dispatch**: read committed events after the durable cursor, in order, ask every
   subscription whether it wants each one, and record one delivery per (subscription, event)
   while moving the cursor, in one transaction (``persistence/sql/deliveries.py``);
2. **send**: lease the due deliveries that are first in their (subscription, repository) lane,
   POST each (httpx, no redirects, the subscription's timeout) and record the outcome:
   delivered on a 2xx, else retried later with exponential backoff and jitter, or a dead
   letter after the policy's last attempt. Right before each attempt the URL's host is
   resolved and checked by the outbound guard, under the subscription's own policy when it
   has one (``outbound``: a project webhook's ``dockyard.webhooks`` networks) or the engine's
   (``dockyard.outbound``), and the request goes to an address that check approved
   (``services/outbound/pinning.py``): no second lookup a rebinding DNS server could steer.
   Connections are kept per receiver (one pool per https host name, so a TLS session is
   never shared between two names; one pool for plain http);
3. **prune** now and then: finished deliveries and fully handled events past the retention.

Nothing here runs on a request's path: a push only writes its event. Memory is bounded by the
page and claim sizes, whatever the backlog.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from asyncio import FIRST_COMPLETED
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from dockyard.core.delivery import (
    ClaimedDelivery,
    DeliveryState,
    NewDelivery,
    OutboundRequest,
    Outcome,
    RetryPolicy,
    Subscription,
    SubscriptionSource,
    gives_up,
    retry_delay,
)
from dockyard.core.events import StoredEvent
from dockyard.persistence.stores import DeliveryStore
from dockyard.services.outbound.guard import (
    IPAddress,
    OutboundPolicy,
    OutboundRefusedError,
    check_url,
)
from dockyard.services.outbound.pinning import PinnedTarget, pinned
from dockyard.services.telemetry import NO_TELEMETRY, Telemetry

log = logging.getLogger("dockyard.events")

LEASE_MARGIN_SECONDS = 30.0  # beyond the longest timeout: a live sender never loses its lease
PRUNE_EVERY_SECONDS = 300.0
GAUGE_EVERY_SECONDS = 5.0
ANSWER_LIMIT = 64 * 1024  # bytes of a receiver's answer read (and dropped) before hanging up
TLS_POOLS = 64  # https host names with a connection pool of their own; the oldest goes first


@dataclass(frozen=True, slots=True)
class EngineOptions:
    concurrency: int = 8  # requests in flight (and deliveries claimed per round)
    page: int = 500  # events read per dispatch page
    pages_per_round: int = 20
    poll_seconds: float = 0.25  # the wait between rounds when there was nothing to do
    retention_seconds: float = 7 * 86400.0


class DeliveryEngine:
    def __init__(
        self,
        store: DeliveryStore,
        sources: Sequence[SubscriptionSource],
        guard: OutboundPolicy,
        *,
        options: EngineOptions | None = None,
        telemetry: Telemetry = NO_TELEMETRY,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.store = store
        self.sources = tuple(sources)
        self.guard = guard
        self.options = options or EngineOptions()
        self.telemetry = telemetry
        self.owner = uuid.uuid4().hex  # this node's name on the leases it takes
        self._transport = transport
        self._clients: dict[str, httpx.AsyncClient] = {}  # "" (plain http) or an https name
        self._last_prune = 0.0
        self._last_gauges = 0.0

    # the step ------------------------------------------------------------------------------

    async def run_once(self) -> int:
        """One round: dispatch new events, send due deliveries (and wait for them), prune and
        report when due. Returns the work done (events dispatched + deliveries attempted)."""
        sending: set[asyncio.Task[None]] = set()
        done = await self._round(sending)
        if sending:
            await asyncio.gather(*sending)
        return done

    async def run_forever(self) -> None:
        """Rounds for ever, without waiting for a round's slowest receiver: a new round
        starts (claiming only as many deliveries as there are free slots) as soon as half
        the slots are free, or every ``poll_seconds``."""
        sending: set[asyncio.Task[None]] = set()
        try:
            while True:
                try:
                    busy = await self._round(sending)
                except Exception:
                    log.exception("event delivery round failed; retrying")
                    busy = 0
                if busy and sending:
                    await self._until_slots_free(sending)
                elif sending:  # nothing new: wait for an answer (or the next poll)
                    await asyncio.wait(
                        sending, timeout=self.options.poll_seconds, return_when=FIRST_COMPLETED
                    )
                elif not busy:
                    await asyncio.sleep(self.options.poll_seconds)
        finally:
            for task in sending:
                task.cancel()
            await asyncio.gather(*sending, return_exceptions=True)
            await self.aclose()

    async def _until_slots_free(self, sending: set[asyncio.Task[None]]) -> None:
        wanted = max(1, self.options.concurrency // 2)
        deadline = time.monotonic() + self.options.poll_seconds
        while sending and self.options.concurrency - len(sending) < wanted:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            await asyncio.wait(sending, timeout=left, return_when=FIRST_COMPLETED)

    async def _round(self, sending: set[asyncio.Task[None]]) -> int:
        subscriptions = await self.subscriptions()
        done = await self.dispatch(subscriptions)
        for claimed in await self.claim_due(subscriptions, self.options.concurrency - len(sending)):
            task = asyncio.create_task(
                self._deliver(claimed, subscriptions.get(claimed.subscription))
            )
            sending.add(task)
            task.add_done_callback(sending.discard)
            done += 1
        now = time.time()
        if now - self._last_prune >= PRUNE_EVERY_SECONDS:
            self._last_prune = now
            await self.prune(now)
        if now - self._last_gauges >= GAUGE_EVERY_SECONDS:
            self._last_gauges = now
            await self.report_queue(now)
        return done

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()

    async def subscriptions(self) -> dict[str, Subscription]:
        found: dict[str, Subscription] = {}
        for source in self.sources:
            for subscription in await source.subscriptions():
                found[subscription.key] = subscription
        return found

    # dispatching ---------------------------------------------------------------------------

    async def dispatch(self, subscriptions: dict[str, Subscription]) -> int:
        """Record the deliveries of every new committed event; how many events were read."""
        total = 0
        for _ in range(self.options.pages_per_round):
            position = await self.store.position()
            page = await self.store.events_after(position, self.options.page)
            if not page:
                break
            wanted = [d for _, stored in page for d in _wanted(stored, subscriptions)]
            if not await self.store.record_dispatch(position, page[-1][0], wanted, time.time()):
                continue  # another node dispatched this page first: read on from its cursor
            total += len(page)
            for _, stored in page:
                self.telemetry.count("events_emitted", kind=stored.event.kind.value)
            if len(page) < self.options.page:
                break
        return total

    # sending -------------------------------------------------------------------------------

    async def claim_due(
        self, subscriptions: dict[str, Subscription], limit: int
    ) -> list[ClaimedDelivery]:
        """Lease up to ``limit`` due deliveries, each the first of its lane."""
        if limit <= 0:
            return []
        now = time.time()
        longest = max((s.policy.timeout_seconds for s in subscriptions.values()), default=5.0)
        return await self.store.claim(
            self.owner, now=now, lease_until=now + longest + LEASE_MARGIN_SECONDS, limit=limit
        )

    async def _deliver(self, claimed: ClaimedDelivery, subscription: Subscription | None) -> None:
        try:
            await self._attempt(claimed, subscription)
        except Exception:  # the database went away: the lease runs out, another round retries
            log.exception(
                "delivery %d to %s: outcome not recorded", claimed.id, claimed.subscription
            )

    async def _attempt(self, claimed: ClaimedDelivery, subscription: Subscription | None) -> None:
        if subscription is None:
            await self._finish(
                claimed, DeliveryState.DEAD, Outcome(error="no such subscription any more")
            )
            self.telemetry.count("event_deliveries", outcome="dead")
            return
        try:
            request = subscription.request(claimed.event, attempt=claimed.attempt, now=time.time())
            guard = self.guard_of(subscription)
            outcome = await self.post(request, subscription.policy.timeout_seconds, guard)
        except Exception as exc:  # a subscription that cannot build its request
            log.exception("delivery %d to %s failed", claimed.id, claimed.subscription)
            outcome = Outcome(error=f"{type(exc).__name__}: {exc}")
        await self._record(claimed, subscription.policy, outcome)

    def guard_of(self, subscription: Subscription) -> OutboundPolicy:
        """The subscription's own outbound policy (a webhook's), else the engine's."""
        own = getattr(subscription, "outbound", None)
        return own if isinstance(own, OutboundPolicy) else self.guard

    async def post(
        self, request: OutboundRequest, timeout: float, guard: OutboundPolicy | None = None
    ) -> Outcome:
        """One attempt: the guard, then ``POST`` to an approved address (the next one only
        when a connection is refused), without following redirects."""
        try:
            addresses = await check_url(request.url, guard or self.guard)
        except OutboundRefusedError as exc:
            return Outcome(error=f"refused: {exc}")
        try:
            async with asyncio.timeout(timeout):
                return await self._post_first(request, addresses, timeout)
        except TimeoutError:
            return Outcome(error=f"no answer within {timeout:g}s")
        except httpx.HTTPError as exc:
            return Outcome(error=f"{type(exc).__name__}: {exc}"[:300])

    async def _post_first(
        self, request: OutboundRequest, addresses: tuple[IPAddress, ...], timeout: float
    ) -> Outcome:
        for address in addresses[:-1]:
            try:
                return await self._post(request, pinned(request.url, address), timeout)
            except httpx.ConnectError:
                continue
        return await self._post(request, pinned(request.url, addresses[-1]), timeout)

    async def _post(
        self, request: OutboundRequest, target: PinnedTarget, timeout: float
    ) -> Outcome:
        client = await self._http(target)
        sending = client.stream(
            "POST", target.url, content=request.body,
            headers=[("host", target.host_header), *request.headers],
            timeout=timeout, extensions=target.extensions,
        )  # fmt: skip
        async with sending as response:
            status = response.status_code
            await _skim(response)
        if 200 <= status < 300:
            return Outcome(status)
        if 300 <= status < 400:
            return Outcome(status, f"HTTP {status}: redirects are not followed")
        return Outcome(status, f"HTTP {status}")

    async def _http(self, target: PinnedTarget) -> httpx.AsyncClient:
        """The connection pool for ``target``: its https name's own, or the plain http one.
        Pools are kept in order of use; past ``TLS_POOLS`` (and twice the concurrency) the least
        recently used is closed. Should a slow request still be using it, that attempt fails
        and is retried like any other failure."""
        name = str(target.extensions.get("sni_hostname", ""))
        key = "" if self._transport is not None else name
        client = self._clients.pop(key, None)
        if client is None:
            if len(self._clients) >= max(TLS_POOLS, 2 * self.options.concurrency):
                oldest = next(iter(self._clients))
                await self._clients.pop(oldest).aclose()
            limits = httpx.Limits(max_connections=self.options.concurrency * 2)
            client = httpx.AsyncClient(
                follow_redirects=False, limits=limits, transport=self._transport, trust_env=False
            )
        self._clients[key] = client  # the most recently used last
        return client

    async def _record(
        self, claimed: ClaimedDelivery, policy: RetryPolicy, outcome: Outcome
    ) -> None:
        if outcome.delivered:
            state, label = DeliveryState.DELIVERED, "delivered"
        elif gives_up(policy, claimed.attempt):
            state, label = DeliveryState.DEAD, "dead"
            log.warning(
                "delivery %d of event %s to %s is a dead letter after %d attempts: %s",
                claimed.id, claimed.event.id, claimed.subscription, claimed.attempt,
                outcome.error,
            )  # fmt: skip
        else:
            state, label = DeliveryState.PENDING, "retry"
        delay = retry_delay(policy, claimed.attempt, random.random())
        await self._finish(claimed, state, outcome, next_at=time.time() + delay)
        self.telemetry.count("event_deliveries", outcome=label)

    async def _finish(
        self,
        claimed: ClaimedDelivery,
        state: DeliveryState,
        outcome: Outcome,
        *,
        next_at: float = 0.0,
    ) -> None:
        kept = await self.store.finish(
            claimed.id, self.owner, state,
            status=outcome.status, error=outcome.error, next_attempt_at=next_at, now=time.time(),
        )  # fmt: skip
        if not kept:
            log.warning("delivery %d: lease lost before its outcome was recorded", claimed.id)

    # housekeeping --------------------------------------------------------------------------

    async def prune(self, now: float) -> None:
        try:
            events, deliveries = await self.store.prune(now - self.options.retention_seconds)
        except Exception:
            log.exception("pruning delivered events failed; trying again later")
            return
        if events or deliveries:
            log.info("pruned %d events and %d finished deliveries", events, deliveries)

    async def report_queue(self, now: float) -> None:
        depth, oldest, dead = await self.store.queue()
        self.telemetry.gauge("event_delivery_queue_depth", depth)
        self.telemetry.gauge(
            "event_delivery_oldest_age_seconds", 0.0 if oldest is None else max(0.0, now - oldest)
        )
        self.telemetry.gauge("event_dead_letters", dead)


async def _skim(response: httpx.Response) -> None:
    """Read a short answer to its end, so the connection can carry the next request; a long
    one is cut off (the connection is then closed): answers are never kept."""
    seen = 0
    async for chunk in response.aiter_raw():
        seen += len(chunk)
        if seen > ANSWER_LIMIT:
            break


def _wanted(stored: StoredEvent, subscriptions: dict[str, Subscription]) -> list[NewDelivery]:
    event = stored.event
    found = []
    for key, subscription in subscriptions.items():
        try:
            wants = subscription.wants(event)
        except Exception:
            log.exception("subscription %s failed to decide on event %s", key, event.id)
            wants = False
        if wants:
            found.append(
                NewDelivery(key, stored.sequence, event.id, event.repository, event.kind.value)
            )
    return found
