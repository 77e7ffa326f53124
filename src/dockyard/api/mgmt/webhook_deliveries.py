"""Endpoints: a webhook's delivery history, its dead letters and their replay.

``GET .../webhooks/{id}/deliveries?status=&limit=&cursor=`` pages newest first (keyset on the
delivery id: ``cursor`` is the ``next`` of the previous page); ``status=dead`` is the
dead-letter list. ``POST .../deliveries/{delivery}/replay`` sends one dead letter again (same
event id), ``POST .../deliveries/replay`` every dead letter of the webhook. Who may:
``services/webhooks/deliveries.py`` (project administrators and system administrators).
"""

from __future__ import annotations

import msgspec

from dockyard.api.mgmt.paging import PAGING_QUERY
from dockyard.api.mgmt.router import Call, Endpoint, Reply
from dockyard.api.mgmt.schemas import Items, iso
from dockyard.core.delivery import DeliveryRecord, DeliveryState
from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.services.identity.common import clamp
from dockyard.services.webhooks.deliveries import WebhookDeliveries

WHO = " (project administrators)"
STATUS_QUERY = (
    "status", "string", "only deliveries in this state: pending, delivered or dead (dead letters)"
)  # fmt: skip


class WebhookDelivery(msgspec.Struct):
    """One event sent (or to be sent) to the webhook, with its last answer."""

    id: int
    event_id: str  # the webhook-id header; the same on every attempt
    event_type: str
    repository: str
    status: str  # pending, delivered or dead
    attempts: int
    last_status_code: int | None  # the receiver's HTTP status; null: no answer
    last_error: str
    created_at: str | None
    next_attempt_at: str | None  # pending only
    finished_at: str | None  # delivered or dead

    @classmethod
    def of(cls, r: DeliveryRecord) -> WebhookDelivery:
        pending = r.state is DeliveryState.PENDING
        return cls(
            r.id, r.event_id, r.kind, r.repository, r.state.value, r.attempts,
            r.last_status or None, r.last_error, iso(r.created_at),
            iso(r.next_attempt_at) if pending else None, iso(r.finished_at),
        )  # fmt: skip


class Replayed(msgspec.Struct):
    replayed: int  # dead letters put back in line


class Handlers:
    def __init__(self, deliveries: WebhookDeliveries) -> None:
        self.deliveries = deliveries

    async def list_deliveries(self, call: Call) -> Reply:
        cursor = call.query("cursor")
        if cursor and not cursor.isdigit():
            raise RegistryError(ErrorCode.BAD_REQUEST, "cursor: not a value this API gave")
        page = await self.deliveries.page(
            call.principal, call.params["project"], call.int_param("id"),
            state=call.query("status") or None, before=int(cursor) if cursor else None,
            limit=clamp(call.int_query("limit")),
        )  # fmt: skip
        items = [WebhookDelivery.of(r) for r in page.items]
        return Reply(200, Items(items, None if page.next is None else str(page.next)))

    async def get_delivery(self, call: Call) -> Reply:
        found = await self.deliveries.get(
            call.principal, call.params["project"], call.int_param("id"),
            call.int_param("delivery"),
        )  # fmt: skip
        return Reply(200, WebhookDelivery.of(found))

    async def replay_one(self, call: Call) -> Reply:
        replayed = await self.deliveries.replay(
            call.principal, call.params["project"], call.int_param("id"),
            call.int_param("delivery"),
        )  # fmt: skip
        return Reply(200, WebhookDelivery.of(replayed))

    async def replay_dead(self, call: Call) -> Reply:
        count = await self.deliveries.replay_dead(
            call.principal, call.params["project"], call.int_param("id")
        )
        return Reply(200, Replayed(count))

    def endpoints(self) -> list[Endpoint]:
        tag, many = "webhooks", "/projects/{project}/webhooks/{id}/deliveries"
        one = many + "/{delivery}"
        return [
            Endpoint("GET", many, self.list_deliveries,
                     "A webhook's deliveries, newest first; status=dead: its dead letters"
                     + WHO, tag, response=Items[WebhookDelivery],
                     query=(*PAGING_QUERY, STATUS_QUERY)),
            Endpoint("GET", one, self.get_delivery, "One delivery of a webhook" + WHO, tag,
                     response=WebhookDelivery),
            Endpoint("POST", one + "/replay", self.replay_one,
                     "Send a dead letter again (same event id, attempts start over); 409 "
                     "unless it is a dead letter" + WHO, tag, response=WebhookDelivery),
            Endpoint("POST", many + "/replay", self.replay_dead,
                     "Send every dead letter of the webhook again" + WHO, tag,
                     response=Replayed),
        ]  # fmt: skip


def endpoints(deliveries: WebhookDeliveries | None) -> list[Endpoint]:
    return [] if deliveries is None else Handlers(deliveries).endpoints()
