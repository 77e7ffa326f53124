"""Domain events: what changed in the registry, who changed it, and under which request.

An event that follows a write is stored in the same database transaction as the write (the
outbox, ``persistence/sql/outbox.py``), so an event exists exactly when its change does.
Consumers (webhooks, registry:2 notifications, the audit log, the job queue) read the outbox
in order of its sequence number; none of them sniff HTTP routes. See ``docs/events.md``.

Pure: no I/O, nothing from dockyard. Events are msgspec structs, so they encode to JSON as
they are and decode back with their types checked.
"""

from __future__ import annotations

import time
import uuid
from enum import StrEnum
from typing import Protocol

import msgspec


class EventKind(StrEnum):
    """What happened; the values are stable wire names (``docs/events.md``)."""

    MANIFEST_PUSHED = "manifest.pushed"  # an index pushed with its children is one event
    MANIFEST_DELETED = "manifest.deleted"  # by digest; the tags it carried go with it
    TAG_DELETED = "tag.deleted"  # the manifest stays
    BLOB_DELETED = "blob.deleted"  # unlinked from one repository; bytes go with GC
    BLOB_MOUNTED = "blob.mounted"  # linked into a repository from another one
    BLOB_PUSHED = "blob.pushed"  # an upload completed: the blob is linked into the repository
    MANIFEST_PULLED = "manifest.pulled"  # GETs coalesced per flush: target.count of them
    PROJECT_CREATED = "project.created"  # identity and settings: no repository, target.project
    PROJECT_UPDATED = "project.updated"
    PROJECT_DELETED = "project.deleted"
    MEMBER_ADDED = "member.added"  # target.name is the member, detail says its kind and role
    MEMBER_UPDATED = "member.updated"
    MEMBER_REMOVED = "member.removed"
    ROBOT_CREATED = "robot.created"
    ROBOT_UPDATED = "robot.updated"
    ROBOT_DELETED = "robot.deleted"
    USER_CREATED = "user.created"  # system-level: no repository, no project
    USER_UPDATED = "user.updated"
    USER_DELETED = "user.deleted"
    QUOTA_CHANGED = "quota.changed"  # a project's limit set in the database or unset
    QUOTA_WARNING = "quota.warning"  # a project's usage crossed the warning threshold upwards
    QUOTA_EXCEEDED = "quota.exceeded"  # a push refused for lack of room (nothing stored)
    POLICY_CHANGED = "policy.changed"  # immutability rules, retention policies (target.name)
    GC_COMPLETED = "gc.completed"  # one per garbage collection run, with its summary
    RETENTION_COMPLETED = "retention.completed"  # one per retention run, with its summary
    # an image's vulnerability findings changed (a scan, a database import): target.detail has
    # the counts per severity and the database version (docs/vulnerabilities.md)
    VULNERABILITY_FOUND = "vulnerability.found"  # findings appeared (a count went up)
    VULNERABILITY_RESOLVED = "vulnerability.resolved"  # only fewer findings remain
    PING = "ping"  # a webhook's test event (``dockyard webhook test``); never in the outbox


DetailValue = str | int | float | bool


class EventReference(msgspec.Struct, frozen=True, omit_defaults=True):
    """A descriptor a pushed manifest references (config and layers, or an index's
    manifests), as registry:2 notifications list them with ``includereferences``."""

    digest: str
    media_type: str = ""
    size: int = 0


class EventTarget(msgspec.Struct, frozen=True, omit_defaults=True, forbid_unknown_fields=False):
    """What the event is about: ``digest`` for manifests, tags and blobs; ``project`` (and
    ``name``) for identity, quota and policy events, which have no repository; the rest when
    the kind has it. Fields without a value are left out of the JSON."""

    digest: str = ""
    media_type: str = ""
    size: int = 0
    tags: tuple[str, ...] = ()  # a push: every tag it set; a tag deletion: the tag
    children: tuple[str, ...] = ()  # an index: the manifests it lists
    source: str = ""  # a mount: the repository the blob came from
    previous: dict[str, str] = msgspec.field(default_factory=dict)  # tag -> digest it left
    project: str = ""  # the project of a project-level event (identity, quota, policy)
    name: str = ""  # the user, robot, member or policy the event is about
    count: int = 0  # manifest.pulled: how many pulls the event stands for
    detail: dict[str, DetailValue] = msgspec.field(default_factory=dict)  # summaries, roles
    references: tuple[EventReference, ...] = ()  # a push: what the manifest references


class EventRequest(msgspec.Struct, frozen=True, omit_defaults=True):
    """The HTTP request that caused a change, as registry:2 notifications report it."""

    addr: str = ""  # the client's address and port (behind a trusted proxy: the client's)
    host: str = ""  # the Host header the client sent
    method: str = ""
    useragent: str = ""
    scheme: str = ""  # http or https, for links back to the registry (not sent as such)


class EventOrigin(msgspec.Struct, frozen=True):
    """Who caused a change and under which request; services hand it to the stores."""

    actor: str | None = None  # the principal's name; None for anonymous
    request_id: str = ""
    request: EventRequest | None = None  # None: not caused by an HTTP request (CLI, jobs)


class Event(msgspec.Struct, frozen=True, omit_defaults=True):
    id: str  # stable across every delivery attempt (a uuid4, 32 hex digits)
    kind: EventKind
    time: float  # seconds since the epoch, when the change was recorded
    repository: str  # "" for project-level and system-level events
    target: EventTarget
    actor: str | None = None
    request_id: str = ""
    request: EventRequest | None = None


class StoredEvent(msgspec.Struct, frozen=True):
    """An event as the outbox holds it: ``sequence`` grows with every event stored."""

    sequence: int
    event: Event


def new_event(
    kind: EventKind,
    origin: EventOrigin,
    repository: str,
    target: EventTarget,
    *,
    now: float | None = None,
) -> Event:
    return Event(
        id=uuid.uuid4().hex,
        kind=kind,
        time=time.time() if now is None else now,
        repository=repository,
        target=target,
        actor=origin.actor,
        request_id=origin.request_id,
        request=origin.request,
    )


_ENCODER = msgspec.json.Encoder()
_TARGET_DECODER = msgspec.json.Decoder(EventTarget)
_REQUEST_DECODER = msgspec.json.Decoder(EventRequest)


def encode_target(target: EventTarget) -> bytes:
    return _ENCODER.encode(target)


def decode_target(raw: bytes | str) -> EventTarget:
    return _TARGET_DECODER.decode(raw)


def encode_request(request: EventRequest | None) -> str:
    """The request as stored beside an event: JSON, or ``""`` when there was none."""
    return "" if request is None else _ENCODER.encode(request).decode()


def decode_request(raw: str | bytes | None) -> EventRequest | None:
    return _REQUEST_DECODER.decode(raw) if raw else None


def encode_event(event: Event) -> bytes:
    return _ENCODER.encode(event)


class EventLog(Protocol):
    """The outbox's read side: events after a sequence number, in order, a page at a time."""

    async def events_after(self, after: int, limit: int) -> list[StoredEvent]: ...
