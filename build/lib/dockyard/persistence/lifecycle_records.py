"""Records and store protocols for the lifecycle features (settings, quotas, rules,
retention and integrity checks); ``sql/lifecycle.py`` and ``sql/inventory.py`` implement them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from dockyard.core.events import Event, EventOrigin


class ImmutableTagError(Exception):
    """A manifest push would move a tag that ``NewManifest.frozen_tags`` says is immutable."""

    def __init__(self, tag: str, current: str) -> None:
        super().__init__(f"tag {tag} points to {current}")
        self.tag = tag
        self.current = current


@dataclass(frozen=True, slots=True)
class ImmutableRuleRecord:
    id: int
    repositories: str
    tags: str


@dataclass(frozen=True, slots=True)
class DeletionRecord:
    """A manifest (or only some of its tags) removed by a lifecycle rule."""

    repository: str
    digest: str
    tags: tuple[str, ...]
    rule: str
    reason: str
    actor: str = ""
    created_at: float = 0.0


@dataclass(frozen=True, slots=True)
class ManifestEntry:
    """One manifest of a repository as retention and bulk deletion see it."""

    digest: str
    media_type: str
    size: int
    created_at: float
    subject: str | None = None
    tags: dict[str, float] = field(default_factory=dict)  # tag -> updated_at
    children: tuple[str, ...] = ()
    last_pulled_at: float | None = None  # None: never pulled (recorded in batches)

    @property
    def pushed_at(self) -> float:
        """When this image was last pushed: its creation or its latest tag move."""
        return max([self.created_at, *self.tags.values()])


@dataclass(frozen=True, slots=True)
class UsageDetail:
    """A project's storage: ``blob_bytes`` counts each blob once (``unique_bytes`` of them are
    used by no other project); ``unreferenced_bytes`` are linked blobs no manifest anywhere
    uses, which garbage collection frees once they are past the grace period."""

    project: str
    blob_bytes: int
    blobs: int
    unique_bytes: int
    manifest_bytes: int
    unreferenced_bytes: int

    @property
    def stored_bytes(self) -> int:
        return self.blob_bytes + self.manifest_bytes

    @property
    def shared_bytes(self) -> int:
        return self.blob_bytes - self.unique_bytes


@dataclass(frozen=True, slots=True)
class ManifestFacts:
    """What a checked delete sees, inside its transaction, before deciding."""

    tags: list[str]  # the manifest's own tags
    parent_tags: list[str]  # tags of the indexes (in the repository) that list it
    parents: int  # how many manifests in the repository list it


Veto = Callable[[ManifestFacts], "str | None"]
BlobVeto = Callable[[list[tuple[str, str]]], "str | None"]  # (tag, manifest) needing a blob


@dataclass(frozen=True, slots=True)
class StoredManifest:
    """A manifest as ``dockyard fsck`` checks it."""

    digest: str
    media_type: str
    content: bytes
    tags: tuple[str, ...]
    blobs: tuple[str, ...]
    children: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class UntaggedGraph:
    """Manifests ``gc --delete-untagged`` may delete (untagged, older than the grace period),
    and what keeps them: the indexes listing them and the subjects they refer to (ids of any
    manifest in the same repository, candidate or not)."""

    candidates: dict[int, tuple[str, str]]  # manifest id -> (repository, digest)
    parents: list[tuple[int, int]]  # (candidate id, id of an index listing it)
    subjects: list[tuple[int, int]]  # (candidate id, id of its subject manifest)


class SystemSettingsStore(Protocol):
    async def get_setting(self, name: str) -> str | None: ...
    async def set_setting(self, name: str, value: str, *, by: str = "") -> None: ...
    async def set_settings(
        self, values: dict[str, str], *, by: str = "", event: Event | None = None
    ) -> None: ...


class QuotaLimitStore(Protocol):
    async def quota_limits(self) -> dict[str, int | None]: ...
    async def set_quota_limit(
        self, project: str, limit_bytes: int | None, *, origin: EventOrigin | None = None
    ) -> None: ...
    async def unset_quota_limit(
        self, project: str, *, origin: EventOrigin | None = None
    ) -> bool: ...
    async def raise_quota_alert(self, project: str, event: Event) -> bool: ...
    async def clear_quota_alert(self, project: str) -> bool: ...
    async def quota_alerts(self) -> list[str]: ...
    async def record_event(self, event: Event) -> None: ...


class ImmutableRuleStore(Protocol):
    async def immutable_rules(self) -> list[ImmutableRuleRecord]: ...
    async def add_immutable_rule(
        self, repositories: str, tags: str, *, origin: EventOrigin | None = None
    ) -> int: ...
    async def remove_immutable_rule(
        self, rule_id: int, *, origin: EventOrigin | None = None
    ) -> bool: ...


class EventRecorder(Protocol):
    async def record_event(self, event: Event) -> None:
        """Store an event in a transaction of its own (a run's summary, a refusal)."""
        ...


class DeletionLog(Protocol):
    async def record_deletion(self, record: DeletionRecord) -> None: ...
    async def deletions(
        self, limit: int, repository: str | None = None
    ) -> list[DeletionRecord]: ...


class InventoryStore(Protocol):
    async def delete_manifest_checked(
        self, repository: str, digest: str, veto: Veto, *, origin: EventOrigin | None = None
    ) -> str: ...
    async def delete_tag_if(
        self, repository: str, tag: str, digest: str, *, origin: EventOrigin | None = None
    ) -> bool: ...
    async def unlink_blob_checked(
        self, repository: str, digest: str, veto: BlobVeto, *, origin: EventOrigin | None = None
    ) -> str: ...
    async def repository_manifests(self, repository: str) -> list[ManifestEntry]: ...


class PullStore(Protocol):
    async def record_pulls(
        self, pulls: list[tuple[str, str, float]], events: Sequence[Event] = ()
    ) -> None:
        """(repository, digest, when) for each manifest pulled; never moves a time back. The
        ``manifest.pulled`` events of these pulls are stored in the same transaction."""
        ...


@dataclass(frozen=True, slots=True)
class QuotaHold:
    """One request's claim on room in a project's quota (``UsageStore.reserve``)."""

    id: str
    project: str
    upload_id: str  # the upload session the bytes go to ("" for none)
    limit: int
    recent_after: float  # blobs linked after this count (see ``stored_bytes``)
    expires_at: float  # the hold lapses then unless renewed (its request died)


class UsageStore(Protocol):
    async def stored_bytes(self, project: str, recent_after: float) -> int: ...
    async def in_flight_bytes(self, project: str, exclude_upload: str = "") -> int: ...
    async def reserve(self, hold: QuotaHold, wanted: int, needed: int) -> tuple[int, int]: ...
    async def renew(self, hold_id: str, expires_at: float) -> bool: ...
    async def release(self, hold_id: str = "", upload_id: str = "") -> None: ...
    async def counts_blob(self, project: str, digest: str, recent_after: float) -> bool: ...
    async def usage_detail(self, project: str, recent_after: float) -> UsageDetail: ...
    async def projects(self) -> list[str]: ...


class IntegrityStore(Protocol):
    async def blobs(self, after_id: int, limit: int) -> list[tuple[int, str, int]]: ...
    async def count_blobs(self) -> int: ...
    async def linked_blobs(self, repository: str) -> dict[str, int]: ...
    async def manifests(self, repository: str) -> list[StoredManifest]: ...
    async def quarantine_blob(self, digest: str) -> list[str] | None: ...
    async def forget_blob(self, digest: str) -> bool: ...
    async def quarantine_manifest(self, repository: str, digest: str) -> bool: ...
