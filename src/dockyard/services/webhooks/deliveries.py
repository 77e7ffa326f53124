"""A webhook's delivery history, its dead letters and their replay, for the webhook's project
administrators and system administrators (``/api/v1`` and ``dockyard webhook deliveries``).

Authorization is the webhook service's (``WebhookService.get``): whoever may read the webhook
may read its deliveries and replay its dead letters; a stranger learns nothing (404), another
member is refused (403). Only the deliveries of that webhook's subscription
(``webhook:<id>``) are ever read or replayed. Replays are written to the audit log
(``webhook.replay``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from dockyard.auth.principal import Principal
from dockyard.core.delivery import DeliveryRecord, DeliveryState
from dockyard.services.events.deliveries import DeliveryHistory
from dockyard.services.identity.common import PAGE_MAX, bad_request, conflict, not_found

if TYPE_CHECKING:
    from dockyard.services.webhooks.service import WebhookService


@dataclass(frozen=True, slots=True)
class DeliveryPage:
    items: list[DeliveryRecord]
    next: int | None  # pass as ``before`` for the next (older) page; None on the last


def subscription_key(webhook_id: int) -> str:
    return f"webhook:{webhook_id}"


class WebhookDeliveries:
    def __init__(self, webhooks: WebhookService, history: DeliveryHistory) -> None:
        self.webhooks = webhooks
        self.history = history

    async def page(
        self,
        actor: Principal,
        project: str,
        webhook_id: int,
        *,
        state: str | None = None,
        before: int | None = None,
        limit: int = 50,
    ) -> DeliveryPage:
        """Deliveries of one webhook, newest first, ids below ``before`` (keyset pages)."""
        chosen = _state(state)
        if not 1 <= limit <= PAGE_MAX:
            raise bad_request(f"limit must be 1..{PAGE_MAX}", field="limit")
        await self.webhooks.get(actor, project, webhook_id)
        found = await self.history.history(
            subscription=subscription_key(webhook_id), state=chosen, before=before,
            limit=limit + 1,
        )  # fmt: skip
        if len(found) > limit:
            return DeliveryPage(found[:limit], found[limit - 1].id)
        return DeliveryPage(found, None)

    async def get(
        self, actor: Principal, project: str, webhook_id: int, delivery_id: int
    ) -> DeliveryRecord:
        await self.webhooks.get(actor, project, webhook_id)
        return await self._one(webhook_id, delivery_id)

    async def _one(self, webhook_id: int, delivery_id: int) -> DeliveryRecord:
        key = subscription_key(webhook_id)
        found = await self.history.history(subscription=key, before=delivery_id + 1, limit=1)
        if not found or found[0].id != delivery_id:
            raise not_found("delivery", delivery_id)
        return found[0]

    async def replay(
        self, actor: Principal, project: str, webhook_id: int, delivery_id: int
    ) -> DeliveryRecord:
        """One dead letter of this webhook back to pending (same event id, attempts from 1);
        404 when the webhook has no such delivery, 409 when it is not a dead letter."""
        record = await self.webhooks.get(actor, project, webhook_id)
        found = await self._one(webhook_id, delivery_id)
        key = subscription_key(webhook_id)
        if found.state is not DeliveryState.DEAD or not await self.history.replay(
            delivery_id, subscription=key
        ):
            raise conflict("only a dead letter can be replayed", state=found.state.value)
        await self.webhooks.audit_change(
            actor, "webhook.replay", record, deliveries=[delivery_id], event_id=found.event_id
        )
        return await self._one(webhook_id, delivery_id)

    async def replay_dead(self, actor: Principal, project: str, webhook_id: int) -> int:
        """Every dead letter of this webhook back to pending; how many."""
        record = await self.webhooks.get(actor, project, webhook_id)
        revived = await self.history.replay_dead(subscription=subscription_key(webhook_id))
        await self.webhooks.audit_change(actor, "webhook.replay", record, replayed=revived)
        return revived


def _state(state: str | None) -> DeliveryState | None:
    if not state:
        return None
    try:
        return DeliveryState(state)
    except ValueError:
        names = ", ".join(s.value for s in DeliveryState)
        raise bad_request(f"status must be one of {names}", field="status") from None
