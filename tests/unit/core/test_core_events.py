"""The event types: stable wire names and a round trip through JSON."""

from __future__ import annotations

import msgspec

from dockyard.core.events import (
    Event,
    EventKind,
    EventOrigin,
    EventTarget,
    decode_target,
    encode_event,
    encode_target,
    new_event,
)

DIGEST = "sha256:" + "a" * 64


def test_kinds_keep_their_wire_names() -> None:
    assert [k.value for k in EventKind] == [
        "manifest.pushed",
        "manifest.deleted",
        "tag.deleted",
        "blob.deleted",
        "blob.mounted",
        "blob.pushed",
        "manifest.pulled",
        "project.created",
        "project.updated",
        "project.deleted",
        "member.added",
        "member.updated",
        "member.removed",
        "robot.created",
        "robot.updated",
        "robot.deleted",
        "user.created",
        "user.updated",
        "user.deleted",
        "quota.changed",
        "quota.warning",
        "quota.exceeded",
        "policy.changed",
        "gc.completed",
        "retention.completed",
        "vulnerability.found",
        "vulnerability.resolved",
        "ping",  # only ever sent as a webhook's test event, never stored
    ]


def test_a_project_level_target_has_no_digest_and_keeps_its_detail_types() -> None:
    detail = {"used": 1627, "limit": 2000, "ratio": 0.5, "public": False, "by": "x"}
    target = EventTarget(project="team", name="alice", detail=detail)
    raw = encode_target(target)
    assert msgspec.json.decode(raw) == {"project": "team", "name": "alice", "detail": detail}
    decoded = decode_target(raw)
    assert decoded == target and decoded.detail["public"] is False
    assert isinstance(decoded.detail["used"], int) and isinstance(decoded.detail["ratio"], float)
    moved = EventTarget(DIGEST, tags=("v1",), previous={"v1": "sha256:old"}, count=3)
    assert msgspec.json.decode(encode_target(moved))["previous"] == {"v1": "sha256:old"}
    assert decode_target(encode_target(moved)) == moved


def test_a_target_leaves_out_empty_fields_and_decodes_back() -> None:
    target = EventTarget(DIGEST, "application/vnd.oci.image.index.v1+json", 42, tags=("v1",))
    raw = encode_target(target)
    assert msgspec.json.decode(raw) == {
        "digest": DIGEST,
        "media_type": "application/vnd.oci.image.index.v1+json",
        "size": 42,
        "tags": ["v1"],
    }
    assert decode_target(raw) == target
    assert decode_target(b'{"digest": "x", "added_later": 1}') == EventTarget("x")


def test_new_events_get_their_own_ids_and_carry_the_origin() -> None:
    origin = EventOrigin("alice", "req-9")
    first = new_event(EventKind.TAG_DELETED, origin, "repo", EventTarget(DIGEST), now=5.0)
    second = new_event(EventKind.TAG_DELETED, origin, "repo", EventTarget(DIGEST), now=5.0)
    assert first.id != second.id and len(first.id) == 32
    assert (first.actor, first.request_id, first.time) == ("alice", "req-9", 5.0)
    decoded = msgspec.json.decode(encode_event(first), type=Event)
    assert decoded == first and decoded.kind is EventKind.TAG_DELETED
