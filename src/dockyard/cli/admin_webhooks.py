"""``dockyard webhook list|create|update|delete|test|rotate-secret|deliveries|replay``: a
project's webhooks (``deliveries`` and ``replay``: ``admin_webhook_deliveries.py``).

Run as the operator (a system administrator, audited as ``cli:<os user>``). A webhook is named
by its id or its name. Secrets are printed once, by ``create`` and ``rotate-secret``.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable

from dockyard.auth.principal import Principal
from dockyard.cli import admin_webhook_deliveries
from dockyard.cli.admin_common import Actions, Handler, UsageError, add_config_options, command
from dockyard.cli.admin_common import run_with_registry as run
from dockyard.cli.common import operator
from dockyard.config import ConfigError, parse_duration
from dockyard.core.delivery import RetryPolicy
from dockyard.services.identity.common import not_found
from dockyard.services.registry import Registry
from dockyard.services.webhooks.records import WebhookRecord, WebhookSpec
from dockyard.services.webhooks.service import DEFAULT_RETRY, WebhookChange, WebhookService

Work = Callable[[WebhookService, Principal, argparse.Namespace], Awaitable[None]]


def _handler(work: Work) -> Handler:
    def handler(args: argparse.Namespace) -> int:
        async def with_webhooks(registry: Registry) -> None:
            assert registry.webhooks is not None  # always built (bootstrap_webhooks)
            await work(registry.webhooks, operator(), args)

        return run(args, with_webhooks)

    return handler


def _action(actions: Actions, name: str, text: str, work: Work) -> argparse.ArgumentParser:
    parser = actions.add_parser(name, help=text)
    add_config_options(parser)
    parser.add_argument("project")
    parser.set_defaults(handler=_handler(work))
    return parser


def _spec_options(parser: argparse.ArgumentParser, *, creating: bool) -> None:
    add = parser.add_argument
    add("--url", required=creating, help="where events are POSTed (http or https)")
    add(
        "--event",
        action="append",
        dest="events",
        metavar="TYPE",
        help="an event type, e.g. manifest.pushed (repeat)",
        required=creating,
    )
    add("--format", help="cloudevents (default on create), harbor or distribution")
    add(
        "--header",
        action="append",
        dest="headers",
        metavar="'NAME: VALUE'",
        help="a custom header (repeat; on update: replaces them all)",
    )
    add(
        "--repository",
        action="append",
        dest="repositories",
        metavar="PATTERN",
        help="only repositories matching, relative to the project (repeat)",
    )
    add("--tag", action="append", dest="tags", metavar="PATTERN", help="only these tags (repeat)")
    add("--description")
    add("--timeout", type=float, metavar="SECONDS", help="per attempt (1-60)")
    add("--max-attempts", type=int, help="then a dead letter (0: never give up)")
    if not creating:
        add("--name", help="a new name")
        switch = parser.add_mutually_exclusive_group()
        switch.add_argument("--enable", dest="enabled", action="store_const", const=True)
        switch.add_argument("--disable", dest="enabled", action="store_const", const=False)
    else:
        add("--disabled", action="store_true", help="create it switched off")  # fmt: skip


def register(subparsers: Actions) -> None:
    actions = command(subparsers, "webhook", "manage a project's webhooks")
    _action(actions, "list", "list a project's webhooks", _list)
    create = _action(actions, "create", "create a webhook and print its secret", _create)
    create.add_argument("name")
    _spec_options(create, creating=True)
    update = _action(actions, "update", "change a webhook", _update)
    update.add_argument("webhook", help="its id or name")
    _spec_options(update, creating=False)
    delete = _action(actions, "delete", "delete a webhook", _delete)
    delete.add_argument("webhook", help="its id or name")
    test = _action(actions, "test", "send a signed ping event now", _test)
    test.add_argument("webhook", help="its id or name")
    rotate = _action(actions, "rotate-secret", "a new signing secret (printed once)", _rotate)
    rotate.add_argument("webhook", help="its id or name")
    rotate.add_argument(
        "--overlap", metavar="DURATION", help="how long the old secret keeps signing (default 24h)"
    )
    admin_webhook_deliveries.add_actions(actions, _action, _find)


def _headers(values: list[str] | None) -> tuple[tuple[str, str], ...] | None:
    if values is None:
        return None
    pairs = []
    for value in values:
        name, colon, text = value.partition(":")
        if not colon:
            raise UsageError(f"--header {value!r}: expected 'Name: value'")
        pairs.append((name.strip(), text.strip()))
    return tuple(pairs)


def _tupled(values: list[str] | None) -> tuple[str, ...] | None:
    return None if values is None else tuple(values)


async def _find(hooks: WebhookService, me: Principal, project: str, ref: str) -> WebhookRecord:
    if ref.isdigit():
        return await hooks.get(me, project, int(ref))
    for record in await hooks.list_webhooks(me, project):
        if record.spec.name == ref:
            return record
    raise not_found("webhook", ref)


def _show(record: WebhookRecord) -> None:
    spec = record.spec
    state = "enabled" if spec.enabled else "disabled"
    print(f"{record.id:<6} {spec.name:<24} {state:<9} {spec.payload_format:<12} "
          f"{','.join(spec.event_types):<40} {spec.url}")  # fmt: skip


async def _list(hooks: WebhookService, me: Principal, args: argparse.Namespace) -> None:
    print(f"{'ID':<6} {'NAME':<24} {'STATE':<9} {'FORMAT':<12} {'EVENTS':<40} URL")
    for record in await hooks.list_webhooks(me, args.project):
        _show(record)


async def _create(hooks: WebhookService, me: Principal, args: argparse.Namespace) -> None:
    defaults = DEFAULT_RETRY
    retry = RetryPolicy(
        args.timeout or defaults.timeout_seconds, defaults.backoff_seconds,
        defaults.max_backoff_seconds,
        defaults.max_attempts if args.max_attempts is None else args.max_attempts,
    )  # fmt: skip
    spec = WebhookSpec(
        args.name, args.url, tuple(args.events), args.format or "cloudevents",
        _headers(args.headers) or (), not args.disabled, _tupled(args.repositories) or (),
        _tupled(args.tags) or (), retry, args.description or "",
    )  # fmt: skip
    record, secret = await hooks.create(me, args.project, spec)
    print(f"created webhook {record.id} ({record.spec.name}) in {record.project}")
    print(f"secret: {secret}")
    print("the secret is shown only now; store it safely")


async def _update(hooks: WebhookService, me: Principal, args: argparse.Namespace) -> None:
    record = await _find(hooks, me, args.project, args.webhook)
    change = WebhookChange(
        name=args.name, url=args.url, description=args.description,
        event_types=_tupled(args.events), payload_format=args.format,
        headers=_headers(args.headers), enabled=args.enabled,
        repositories=_tupled(args.repositories), tags=_tupled(args.tags),
        timeout_seconds=args.timeout, max_attempts=args.max_attempts,
    )  # fmt: skip
    _show(await hooks.update(me, args.project, record.id, change))


async def _delete(hooks: WebhookService, me: Principal, args: argparse.Namespace) -> None:
    record = await _find(hooks, me, args.project, args.webhook)
    await hooks.delete(me, args.project, record.id)
    print(f"deleted webhook {record.id} ({record.spec.name})")


async def _test(hooks: WebhookService, me: Principal, args: argparse.Namespace) -> None:
    record = await _find(hooks, me, args.project, args.webhook)
    outcome, event_id = await hooks.test(me, args.project, record.id)
    print(f"event {event_id}: {outcome.status_code or '-'} {outcome.error}".rstrip())
    if not outcome.delivered:
        raise UsageError("the test event was not delivered")


async def _rotate(hooks: WebhookService, me: Principal, args: argparse.Namespace) -> None:
    try:
        overlap = None if args.overlap is None else parse_duration(args.overlap)
    except ConfigError as exc:
        raise UsageError(f"--overlap: {exc.message}") from None
    record = await _find(hooks, me, args.project, args.webhook)
    updated, secret = await hooks.rotate(me, args.project, record.id, overlap)
    print(f"secret: {secret}")
    until = updated.secrets.previous_until
    print("the old secret no longer signs" if until is None else
          f"the old secret also signs for {until - updated.updated_at:.0f}s")  # fmt: skip
