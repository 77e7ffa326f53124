"""Endpoints: a project's webhooks (list, create, read, change, delete, rotate, test).

Who may call them is decided in ``services/webhooks/service.py`` (``auth.policy``): project
administrators and system administrators. Each webhook's delivery history, dead letters and
replay: ``webhook_deliveries.py``.
"""

from __future__ import annotations

from dockyard.api.mgmt import webhook_deliveries
from dockyard.api.mgmt.paging import SEARCH_QUERY, by_id, paged_list
from dockyard.api.mgmt.router import Call, Endpoint, Reply
from dockyard.api.mgmt.schemas import Items
from dockyard.api.mgmt.webhook_schemas import (
    NewWebhook,
    SecretRotation,
    Webhook,
    WebhookSecret,
    WebhookTest,
    WebhookUpdate,
)
from dockyard.services.webhooks.service import WebhookService

WHO = " (project administrators)"


class Handlers:
    def __init__(self, service: WebhookService) -> None:
        self.webhooks = service

    async def list_webhooks(self, call: Call) -> Reply:
        found = await self.webhooks.list_webhooks(call.principal, call.params["project"])
        return paged_list(call, found, Webhook.of, name=lambda r: r.spec.name, order=by_id)

    async def create_webhook(self, call: Call) -> Reply:
        body = call.body(NewWebhook)
        record, secret = await self.webhooks.create(
            call.principal, call.params["project"], body.spec()
        )
        return Reply(201, WebhookSecret(Webhook.of(record), secret))

    async def get_webhook(self, call: Call) -> Reply:
        record = await self.webhooks.get(
            call.principal, call.params["project"], call.int_param("id")
        )
        return Reply(200, Webhook.of(record))

    async def update_webhook(self, call: Call) -> Reply:
        change = call.body(WebhookUpdate).change()
        record = await self.webhooks.update(
            call.principal, call.params["project"], call.int_param("id"), change
        )
        return Reply(200, Webhook.of(record))

    async def delete_webhook(self, call: Call) -> Reply:
        await self.webhooks.delete(call.principal, call.params["project"], call.int_param("id"))
        return Reply(204)

    async def rotate_secret(self, call: Call) -> Reply:
        empty = not call.raw_body.strip()  # no body: the configured overlap
        overlap = None if empty else call.body(SecretRotation).overlap_seconds
        record, secret = await self.webhooks.rotate(
            call.principal, call.params["project"], call.int_param("id"), overlap
        )
        return Reply(200, WebhookSecret(Webhook.of(record), secret))

    async def test_webhook(self, call: Call) -> Reply:
        outcome, event_id = await self.webhooks.test(
            call.principal, call.params["project"], call.int_param("id")
        )
        return Reply(200, WebhookTest.of(outcome, event_id))

    def endpoints(self) -> list[Endpoint]:
        tag, many, one = (
            "webhooks",
            "/projects/{project}/webhooks",
            "/projects/{project}/webhooks/{id}",
        )
        return [
            Endpoint("GET", many, self.list_webhooks, "A project's webhooks" + WHO, tag,
                     response=Items[Webhook], query=SEARCH_QUERY),
            Endpoint("POST", many, self.create_webhook,
                     "Create a webhook; its signing secret is shown once" + WHO, tag,
                     request=NewWebhook, response=WebhookSecret, status=201),
            Endpoint("GET", one, self.get_webhook, "A webhook (no secrets)" + WHO, tag,
                     response=Webhook),
            Endpoint("PATCH", one, self.update_webhook, "Change a webhook" + WHO, tag,
                     request=WebhookUpdate, response=Webhook),
            Endpoint("DELETE", one, self.delete_webhook, "Delete a webhook" + WHO, tag,
                     status=204),
            Endpoint("POST", one + "/secret", self.rotate_secret,
                     "A new signing secret, shown once; the old one keeps signing for the "
                     "overlap (default 24 h)" + WHO, tag, request=SecretRotation,
                     response=WebhookSecret),
            Endpoint("POST", one + "/test", self.test_webhook,
                     "Send a signed ping event now; the receiver's status code or the error"
                     + WHO, tag, response=WebhookTest),
        ]  # fmt: skip


def endpoints(service: WebhookService) -> list[Endpoint]:
    return [*Handlers(service).endpoints(), *webhook_deliveries.endpoints(service.deliveries)]
