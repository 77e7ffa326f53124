"""The delivery history and its dead letters, read and replayed (``dockyard events
deliveries|replay``; at merge, the project webhooks API for its own subscriptions).

Callers decide who may see which subscription: the CLI is the operator's; the webhooks API
asks for its project's ``webhook:<id>`` keys only.
"""

from __future__ import annotations

import time

from dockyard.core.delivery import DeliveryRecord, DeliveryState
from dockyard.persistence.stores import DeliveryStore

DEFAULT_PAGE = 100
MAX_PAGE = 1000


class DeliveryHistory:
    def __init__(self, store: DeliveryStore) -> None:
        self.store = store

    async def history(
        self,
        *,
        subscription: str | None = None,
        state: DeliveryState | None = None,
        before: int | None = None,
        limit: int = DEFAULT_PAGE,
    ) -> list[DeliveryRecord]:
        """Deliveries newest first (ids below ``before``), with attempts and last status."""
        return await self.store.history(
            subscription=subscription,
            state=state,
            before=before,
            limit=max(1, min(limit, MAX_PAGE)),
        )

    async def dead_letters(
        self, *, subscription: str | None = None, limit: int = DEFAULT_PAGE
    ) -> list[DeliveryRecord]:
        return await self.history(subscription=subscription, state=DeliveryState.DEAD, limit=limit)

    async def replay(self, delivery_id: int, *, subscription: str | None = None) -> bool:
        """Put one dead delivery back in its lane (its attempts start again); False when it
        is not a dead letter (of ``subscription``, when given)."""
        revived = await self.store.replay(
            now=time.time(), delivery_id=delivery_id, subscription=subscription
        )
        return revived > 0

    async def replay_dead(self, *, subscription: str | None = None) -> int:
        """Every dead letter (of one subscription) back to pending; how many."""
        return await self.store.replay(now=time.time(), subscription=subscription)
