"""``dockyard webhook deliveries|replay``: one webhook's delivery history and dead letters.

``deliveries PROJECT WEBHOOK [--status dead] [--before ID] [--limit N]``: one JSON line per
delivery, newest first (state, attempts, the last HTTP status and error); pass the last id as
``--before`` for the next page. ``replay PROJECT WEBHOOK ID`` sends one dead letter again,
``replay PROJECT WEBHOOK --dead`` every one of the webhook's. As the other ``webhook``
commands: the operator, audited as ``cli:<os user>``.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from dockyard.auth.principal import Principal
from dockyard.cli.admin_common import Actions
from dockyard.core.delivery import DeliveryState
from dockyard.services.identity.common import PAGE_MAX
from dockyard.services.webhooks.deliveries import WebhookDeliveries
from dockyard.services.webhooks.records import WebhookRecord
from dockyard.services.webhooks.service import WebhookService

Work = Callable[[WebhookService, Principal, argparse.Namespace], Awaitable[None]]
AddAction = Callable[[Actions, str, str, Work], argparse.ArgumentParser]
Find = Callable[[WebhookService, Principal, str, str], Awaitable[WebhookRecord]]


def add_actions(actions: Actions, action: AddAction, find: Find) -> None:
    """Register ``deliveries`` and ``replay``; ``action`` and ``find`` are ``webhook``'s."""

    async def deliveries(hooks: WebhookService, me: Principal, args: argparse.Namespace) -> None:
        record = await find(hooks, me, args.project, args.webhook)
        page = await _history(hooks).page(
            me, args.project, record.id, state=args.status, before=args.before, limit=args.limit
        )
        for delivery in page.items:
            print(msgspec.json.encode(delivery).decode())

    async def replay(hooks: WebhookService, me: Principal, args: argparse.Namespace) -> None:
        record = await find(hooks, me, args.project, args.webhook)
        if args.dead:
            count = await _history(hooks).replay_dead(me, args.project, record.id)
            print(f"{count} dead deliveries are pending again")
            return
        revived = await _history(hooks).replay(me, args.project, record.id, args.delivery)
        print(f"delivery {revived.id} (event {revived.event_id}) is pending again")

    history = action(actions, "deliveries", "a webhook's deliveries as JSON lines", deliveries)
    _history_options(history)
    again = action(actions, "replay", "send a webhook's dead letters again", replay)
    again.add_argument("webhook", help="its id or name")
    which = again.add_mutually_exclusive_group(required=True)
    which.add_argument("delivery", nargs="?", type=int, help="one dead letter, by id")
    which.add_argument("--dead", action="store_true", help="every dead letter of the webhook")


def _history_options(parser: argparse.ArgumentParser) -> None:
    add: Any = parser.add_argument
    add("webhook", help="its id or name")
    add("--status", choices=[s.value for s in DeliveryState], help="dead: the dead letters")
    add("--before", type=int, metavar="ID", help="only deliveries with id < ID (next page)")
    add("--limit", type=int, default=50, metavar="N", help=f"1..{PAGE_MAX} (default 50)")


def _history(hooks: WebhookService) -> WebhookDeliveries:
    assert hooks.deliveries is not None  # bootstrap gives every webhook service the history
    return hooks.deliveries
