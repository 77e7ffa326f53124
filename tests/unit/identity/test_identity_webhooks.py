"""Project webhooks: the store (SQLite and a real PostgreSQL, through the new migration), the
service's checks, secret rotation, and the subscriptions the delivery engine is offered."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from dockyard.auth.grants import SYSTEM
from dockyard.auth.policy import AccessPolicy
from dockyard.auth.principal import Principal
from dockyard.core.delivery import RetryPolicy
from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.core.events import Event, EventKind, EventTarget
from dockyard.persistence.sql.session import Database
from dockyard.persistence.sql.webhooks import SqlWebhookStore
from dockyard.persistence.webhook_records import WebhookSpec
from dockyard.services.identity.wiring import IdentityServices
from dockyard.services.outbound.guard import OutboundPolicy
from dockyard.services.webhooks.formats import ProjectVisibility, standard_renderers
from dockyard.services.webhooks.service import WebhookChange, WebhookOptions, WebhookService
from dockyard.services.webhooks.subscriptions import WebhookSubscriptionSource

Run = Callable[[Awaitable[Any]], Any]
ROOT = Principal("cli:test", identity=SYSTEM, client="local")
URL = "http://127.0.0.1:9/hook"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def build(
    database: Database, identity: IdentityServices, policy: AccessPolicy, clock: Clock,
    outbound: OutboundPolicy | None = None,
) -> WebhookService:  # fmt: skip
    store = SqlWebhookStore(database)
    visibility = ProjectVisibility()
    source = WebhookSubscriptionSource(
        store, standard_renderers("", visibility), visibility, ttl_seconds=10, clock=clock
    )
    options = WebhookOptions(outbound=outbound or OutboundPolicy())
    return WebhookService(
        store, identity.projects, identity.audit, policy, source, options=options, clock=clock
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def hooks(
    database: Database, identity: IdentityServices, policy: AccessPolicy, clock: Clock, run: Run
) -> WebhookService:
    run(identity.projects.create(ROOT, "team"))
    run(identity.projects.create(ROOT, "other"))
    return build(database, identity, policy, clock)


def spec(name: str = "ci", **changes: Any) -> WebhookSpec:
    base: dict[str, Any] = {
        "name": name, "url": URL, "event_types": ("manifest.pushed",),
        "payload_format": "cloudevents",
    }  # fmt: skip
    return WebhookSpec(**{**base, **changes})


def refused(run: Run, work: Awaitable[Any], code: ErrorCode = ErrorCode.BAD_REQUEST) -> str:
    with pytest.raises(RegistryError) as caught:
        run(work)
    assert caught.value.code is code, caught.value.message
    return caught.value.message


def test_create_list_update_delete_round_trip(hooks: WebhookService, run: Run) -> None:
    made, secret = run(hooks.create(ROOT, "team", spec(
        headers=(("X-Token", "t0ken"),), repositories=("ci/**",), tags=("v*",),
        event_types=("tag.deleted", "manifest.pushed", "manifest.pushed", "future.kind"),
        retry=RetryPolicy(3.0, 2.0, 60.0, 4),
    )))  # fmt: skip
    assert secret.startswith("whsec_") and made.secrets.current == secret
    assert made.spec.event_types == ("future.kind", "manifest.pushed", "tag.deleted")
    assert made.spec.headers == (("X-Token", "t0ken"),)
    assert made.spec.retry == RetryPolicy(3.0, 2.0, 60.0, 4)
    assert (made.project, made.spec.repositories, made.spec.tags) == ("team", ("ci/**",), ("v*",))
    assert [r.id for r in run(hooks.list_webhooks(ROOT, "team"))] == [made.id]
    assert run(hooks.list_webhooks(ROOT, "other")) == []
    refused(run, hooks.get(ROOT, "other", made.id), ErrorCode.NOT_FOUND)  # not that project's
    changed = run(hooks.update(ROOT, "team", made.id, WebhookChange(
        name="ci2", enabled=False, max_attempts=0, tags=())))  # fmt: skip
    assert (changed.spec.name, changed.spec.enabled, changed.spec.tags) == ("ci2", False, ())
    assert changed.spec.retry == RetryPolicy(3.0, 2.0, 60.0, 0)
    assert changed.spec.url == URL and changed.secrets.current == secret  # the rest stays
    run(hooks.create(ROOT, "team", spec("taken")))
    refused(run, hooks.update(ROOT, "team", made.id, WebhookChange(name="taken")),
            ErrorCode.CONFLICT)  # fmt: skip
    refused(run, hooks.create(ROOT, "team", spec("taken")), ErrorCode.CONFLICT)
    run(hooks.delete(ROOT, "team", made.id))
    refused(run, hooks.get(ROOT, "team", made.id), ErrorCode.NOT_FOUND)
    refused(run, hooks.create(ROOT, "nowhere", spec()), ErrorCode.NOT_FOUND)


def test_webhooks_go_with_their_project(
    hooks: WebhookService, identity: IdentityServices, run: Run
) -> None:
    made, _ = run(hooks.create(ROOT, "other", spec()))
    run(identity.projects.delete(ROOT, "other"))
    assert run(hooks.store.get_webhook("other", made.id)) is None
    assert run(hooks.store.enabled_webhooks()) == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"url": "ftp://127.0.0.1/x"}, "only http and https"),
        ({"url": "http:///nohost"}, "no host"),
        ({"url": "http://user:pw@127.0.0.1/"}, "credentials"),
        ({"url": "http://127.0.0.1/" + "x" * 2100}, "longer than"),
        ({"url": "http://169.254.169.254/latest"}, "metadata"),
        ({"url": "http://[fe80::1]/hook"}, "link-local"),
        ({"payload_format": "xml"}, "unknown format"),
        ({"payload_format": "distribution"}, "not available yet"),
        ({"event_types": ()}, "event types"),
        ({"event_types": ("Manifest Pushed",)}, "not an event type"),
        ({"headers": (("X-Big", "v" * 1025),)}, "longer than 1024"),
        ({"headers": (("Webhook-Signature", "forged"),)}, "set by dockyard"),
        ({"headers": (("Content-Type", "text/plain"),)}, "set by dockyard"),
        ({"headers": (("Bad Name", "x"),)}, "not a header name"),
        ({"headers": (("X-A", "a\r\nX-B: b"),)}, "line break"),
        ({"headers": tuple((f"X-{n}", "v") for n in range(21))}, "at most 20"),
        ({"repositories": ("{a,b",)}, "unbalanced"),
        ({"tags": ("a/b",)}, "tags contain no /"),
        ({"name": "no spaces"}, "name"),
        ({"retry": RetryPolicy(0.5)}, "timeout_seconds"),
        ({"retry": RetryPolicy(5, 10, 5)}, "max_backoff_seconds"),
        ({"retry": RetryPolicy(max_attempts=-1)}, "max_attempts"),
    ],
)
def test_bad_webhooks_are_refused(
    hooks: WebhookService, run: Run, changes: dict[str, Any], message: str
) -> None:
    assert message in refused(run, hooks.create(ROOT, "team", spec(**changes)))
    assert run(hooks.list_webhooks(ROOT, "team")) == []


def test_the_operator_may_allow_a_link_local_receiver(
    database: Database, identity: IdentityServices, policy: AccessPolicy, clock: Clock, run: Run
) -> None:
    run(identity.projects.create(ROOT, "team"))
    allowing = OutboundPolicy.from_strings(deny_private=False, allowed=["169.254.10.0/24"])
    hooks = build(database, identity, policy, clock, allowing)
    run(hooks.create(ROOT, "team", spec(url="http://169.254.10.7/hook")))
    metadata = spec("meta", url="http://169.254.169.254/")
    assert "metadata" in refused(run, hooks.create(ROOT, "team", metadata))
    strict = build(database, identity, policy, clock,
                   OutboundPolicy.from_strings(deny_private=True))  # fmt: skip
    assert "private" in refused(run, strict.create(ROOT, "team", spec("lo")))


def test_rotation_keeps_the_old_secret_for_the_overlap_only(
    hooks: WebhookService, clock: Clock, run: Run
) -> None:
    made, first = run(hooks.create(ROOT, "team", spec()))
    rotated, second = run(hooks.rotate(ROOT, "team", made.id, 3600))
    assert second != first
    assert rotated.secrets.current == second and rotated.secrets.previous == first
    assert rotated.secrets.previous_until == clock.now + 3600
    default, third = run(hooks.rotate(ROOT, "team", made.id))  # the configured 24 h
    assert (
        default.secrets.previous == second and default.secrets.previous_until == clock.now + 86400
    )
    at_once, fourth = run(hooks.rotate(ROOT, "team", made.id, 0))
    assert at_once.secrets.previous is None and at_once.secrets.current == fourth != third
    refused(run, hooks.rotate(ROOT, "team", made.id, -1))


def _event(repository: str, kind: EventKind = EventKind.MANIFEST_PUSHED, *tags: str) -> Event:
    return Event("a" * 32, kind, 1.0, repository, EventTarget("sha256:" + "0" * 64, tags=tags))


def test_subscriptions_filter_by_project_kind_repository_and_tag(
    hooks: WebhookService, clock: Clock, run: Run
) -> None:
    plain, _ = run(hooks.create(ROOT, "team", spec("plain")))
    narrow, _ = run(hooks.create(ROOT, "team", spec(
        "narrow", repositories=("ci/*", "tools"), tags=("v{1,2}.*",),
        event_types=("manifest.pushed", "tag.deleted"))))  # fmt: skip
    run(hooks.create(ROOT, "team", spec("off", enabled=False)))
    found = {s.key: s for s in run(hooks.source.subscriptions())}
    assert set(found) == {f"webhook:{plain.id}", f"webhook:{narrow.id}"}
    wide, tight = found[f"webhook:{plain.id}"], found[f"webhook:{narrow.id}"]
    assert wide.policy == plain.spec.retry
    assert wide.wants(_event("team/anything/deep"))
    assert not wide.wants(_event("other/app"))  # another project
    assert not wide.wants(_event("teams/app"))
    assert not wide.wants(_event("team/app", EventKind.TAG_DELETED, "v1.0"))  # not its kind
    assert tight.wants(_event("team/ci/web", EventKind.MANIFEST_PUSHED, "latest", "v2.3"))
    assert tight.wants(_event("team/tools", EventKind.TAG_DELETED, "v1.0"))
    assert not tight.wants(_event("team/ci/web/deeper", EventKind.MANIFEST_PUSHED, "v1.0"))
    assert not tight.wants(_event("team/web", EventKind.MANIFEST_PUSHED, "v1.0"))
    assert not tight.wants(_event("team/ci/web", EventKind.MANIFEST_PUSHED, "v3.0"))
    assert not tight.wants(_event("team/ci/web"))  # untagged: tag filters need a tag


def test_a_disabled_or_deleted_webhook_stops_being_offered(
    hooks: WebhookService, clock: Clock, run: Run
) -> None:
    first, _ = run(hooks.create(ROOT, "team", spec("first")))
    second, _ = run(hooks.create(ROOT, "team", spec("second")))
    keys = lambda: {s.key for s in run(hooks.source.subscriptions())}  # noqa: E731
    assert keys() == {f"webhook:{first.id}", f"webhook:{second.id}"}
    run(hooks.update(ROOT, "team", first.id, WebhookChange(enabled=False)))
    run(hooks.delete(ROOT, "team", second.id))
    assert len(keys()) == 2  # cached for ttl_seconds
    clock.now += 11
    assert keys() == set()


def test_a_project_has_at_most_fifty_webhooks(hooks: WebhookService, run: Run) -> None:
    for n in range(50):
        run(hooks.create(ROOT, "team", spec(f"hook-{n}")))
    assert "at most 50" in refused(run, hooks.create(ROOT, "team", spec("one-more")),
                                   ErrorCode.CONFLICT)  # fmt: skip
    run(hooks.create(ROOT, "other", spec("elsewhere")))  # per project
    assert len(run(hooks.list_webhooks(ROOT, "team"))) == 50
