"""registry:2 notifications: which events an endpoint wants, Distribution's envelope for each
kind, and the retry timing of the delivery contract (pure, no I/O)."""

from __future__ import annotations

import json

import pytest

from dockyard.core.delivery import RetryPolicy, gives_up, retry_delay
from dockyard.core.events import (
    Event,
    EventKind,
    EventReference,
    EventRequest,
    EventTarget,
)
from dockyard.services.events.envelope import EnvelopeContext, timestamp
from dockyard.services.events.notifications import Endpoint, NotificationEndpoint

DIGEST = "sha256:" + "b" * 64
OCI = "application/vnd.oci.image.manifest.v1+json"
REQUEST = EventRequest(
    addr="127.0.0.1:40000", host="registry:5000", method="PUT", useragent="skopeo", scheme="http"
)
CONTEXT = EnvelopeContext(source_addr="node:5000", instance_id="inst-1")


def event(kind: EventKind, target: EventTarget, **fields: object) -> Event:
    base: dict[str, object] = {
        "id": "e" * 32, "kind": kind, "time": 1_700_000_000.25, "repository": "team/app",
        "target": target, "actor": "alice", "request_id": "req-7", "request": REQUEST,
    }  # fmt: skip
    return Event(**{**base, **fields})  # type: ignore[arg-type]


def sent(e: Event, context: EnvelopeContext = CONTEXT, **endpoint: object) -> dict[str, object]:
    hook = NotificationEndpoint(
        Endpoint(name="hook", url="http://127.0.0.1:1/", **endpoint), context
    )  # type: ignore[arg-type]
    request = hook.request(e, attempt=1, now=0.0)
    assert dict(request.headers)["Content-Type"] == (
        "application/vnd.docker.distribution.events.v1+json"
    )
    (record,) = json.loads(request.body)["events"]
    return dict(record)


def test_a_push_is_sent_as_distribution_sends_it() -> None:
    push = event(
        EventKind.MANIFEST_PUSHED,
        EventTarget(DIGEST, OCI, 527, tags=("v1", "extra")),
    )
    assert sent(push) == {
        "id": "e" * 32,
        "timestamp": "2023-11-14T22:13:20.25Z",
        "action": "push",
        "target": {
            "mediaType": OCI,
            "size": 527,
            "digest": DIGEST,
            "length": 527,
            "repository": "team/app",
            "url": f"http://registry:5000/v2/team/app/manifests/{DIGEST}",
            "tag": "v1",
        },
        "request": {
            "id": "req-7",
            "addr": "127.0.0.1:40000",
            "host": "registry:5000",
            "method": "PUT",
            "useragent": "skopeo",
        },
        "actor": {"name": "alice"},
        "source": {"addr": "node:5000", "instanceID": "inst-1"},
    }


def test_references_only_with_includereferences_and_http_host_wins_for_urls() -> None:
    refs = (EventReference("sha256:c", "application/vnd.oci.image.config.v1+json", 2),)
    push = event(EventKind.MANIFEST_PUSHED, EventTarget(DIGEST, OCI, 1, references=refs))
    assert "references" not in sent(push)["target"]  # type: ignore[operator]
    context = EnvelopeContext("node:5000", "inst-1", "https://reg.example", True)
    target = sent(push, context)["target"]
    assert target["references"] == [  # type: ignore[index]
        {"mediaType": "application/vnd.oci.image.config.v1+json", "size": 2, "digest": "sha256:c"}
    ]
    assert target["url"] == f"https://reg.example/v2/team/app/manifests/{DIGEST}"  # type: ignore[index]


@pytest.mark.parametrize(
    ("kind", "target", "action", "expected"),
    [
        (EventKind.MANIFEST_DELETED, EventTarget(DIGEST, OCI, 3, tags=("v1",)), "delete",
         {"digest": DIGEST, "repository": "team/app"}),
        (EventKind.TAG_DELETED, EventTarget(DIGEST, OCI, 3, tags=("v1",)), "delete",
         {"repository": "team/app", "tag": "v1"}),
        (EventKind.BLOB_DELETED, EventTarget(DIGEST), "delete",
         {"digest": DIGEST, "repository": "team/app"}),
        (EventKind.BLOB_MOUNTED, EventTarget(DIGEST, "application/octet-stream", 9, source="lib/x"),
         "mount", {"mediaType": "application/octet-stream", "size": 9, "digest": DIGEST,
                   "length": 9, "repository": "team/app", "fromRepository": "lib/x",
                   "url": f"http://registry:5000/v2/team/app/blobs/{DIGEST}"}),
    ],
)  # fmt: skip
def test_other_kinds_map_to_distribution_actions(
    kind: EventKind, target: EventTarget, action: str, expected: dict[str, object]
) -> None:
    record = sent(event(kind, target))
    assert (record["action"], record["target"]) == (action, expected)


def test_without_an_http_request_or_actor_the_records_stay_as_distribution_has_them() -> None:
    record = sent(event(EventKind.MANIFEST_DELETED, EventTarget(DIGEST), actor=None, request=None))
    assert record["request"] == {"id": "req-7", "method": "", "useragent": ""}
    assert record["actor"] == {}


def test_ignored_actions_and_media_types_are_not_wanted() -> None:
    hook = NotificationEndpoint(
        Endpoint(
            name="hook",
            url="http://127.0.0.1:1/",
            ignored_actions=frozenset({"delete"}),
            ignored_media_types=frozenset({"application/octet-stream"}),
        ),
        CONTEXT,
    )
    assert hook.key == "notifications:hook"
    assert hook.wants(event(EventKind.MANIFEST_PUSHED, EventTarget(DIGEST, OCI, 1)))
    assert not hook.wants(event(EventKind.MANIFEST_DELETED, EventTarget(DIGEST, OCI, 1)))
    mounted = EventTarget(DIGEST, "application/octet-stream", 1, source="x")
    assert not hook.wants(event(EventKind.BLOB_MOUNTED, mounted))


def test_timestamps_are_go_rfc3339_in_utc() -> None:
    assert timestamp(0.0) == "1970-01-01T00:00:00Z"
    assert timestamp(1.5) == "1970-01-01T00:00:01.5Z"


def test_backoff_doubles_after_the_steady_failures_up_to_the_limit_with_jitter() -> None:
    policy = RetryPolicy(backoff_seconds=1.0, max_backoff_seconds=10.0, steady_failures=2)
    assert [retry_delay(policy, n, 0.0) for n in range(1, 7)] == [1, 1, 2, 4, 8, 10]
    assert retry_delay(policy, 3, 0.999) == pytest.approx(2 * 1.24975)
    assert not gives_up(policy, 1000), "0 attempts: never give up"
    assert gives_up(RetryPolicy(max_attempts=3), 3) and not gives_up(RetryPolicy(max_attempts=3), 2)
