"""Pushing, pulling and deleting manifests; references are checked and recorded atomically."""

from __future__ import annotations

from dataclasses import dataclass, replace

import msgspec

from dockyard.auth.policy import AccessPolicy, Action
from dockyard.auth.principal import Principal
from dockyard.core import mediatypes as mt
from dockyard.core.digest import digest_of, is_valid_digest, parse_digest
from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.core.events import EventOrigin, EventReference, EventRequest
from dockyard.core.manifest import ParsedManifest, parse_manifest
from dockyard.core.reference import is_valid_tag, validate_name, validate_tag
from dockyard.core.signatures.cosign import is_attachment_tag
from dockyard.persistence.lifecycle_records import ImmutableTagError
from dockyard.persistence.records import ManifestRecord, NewManifest, ReferenceSizeError
from dockyard.persistence.stores import MetadataStore
from dockyard.services.events import origin_of
from dockyard.services.lifecycle.immutability import ImmutabilityService
from dockyard.services.lifecycle.pulls import PullRecorder
from dockyard.services.lifecycle.quotas import QuotaService
from dockyard.services.registry import RegistryOptions
from dockyard.services.registry.guards import ensure_delete_enabled, ensure_writable
from dockyard.services.registry.manifest_checks import (
    declared_sizes,
    optional_children,
    size_refusal,
)
from dockyard.services.trust.gate import ADMITTED, Admission, PullGate


@dataclass(frozen=True, slots=True)
class PushedManifest:
    digest: str
    subject: str | None
    tags: tuple[str, ...] = ()  # every tag the push set: the reference's and ``?tag=`` ones


def is_digest_reference(reference: str) -> bool:
    return ":" in reference


def _unknown(reference: str) -> RegistryError:
    return RegistryError(ErrorCode.MANIFEST_UNKNOWN, detail={"reference": reference[:200]})


def require_possible(reference: str) -> None:
    """A reference that is neither a valid tag nor a valid digest names no manifest: reads and
    deletes answer 404 MANIFEST_UNKNOWN (as the OCI conformance suite expects), not 400."""
    valid = is_valid_digest if is_digest_reference(reference) else is_valid_tag
    if not valid(reference):
        raise _unknown(reference)


class ManifestService:
    def __init__(
        self,
        metadata: MetadataStore,
        policy: AccessPolicy,
        options: RegistryOptions,
        *,
        immutability: ImmutabilityService | None = None,
        pulls: PullRecorder | None = None,
        quotas: QuotaService | None = None,
        gate: PullGate | None = None,
    ) -> None:
        self.gate = gate  # the pull-time gate: trust policies (services/trust/gate.py)
        self.quotas = quotas  # a new manifest's bytes count in its project's quota
        self.metadata = metadata
        self.policy = policy
        self.options = options
        self.immutability = immutability
        self.pulls = pulls  # noted in memory, written in batches (services/lifecycle/pulls.py)

    async def get(
        self,
        principal: Principal,
        repository: str,
        reference: str,
        *,
        download: bool = True,
        request_id: str = "",
    ) -> ManifestRecord:
        """The manifest; a ``download`` (a GET, not a HEAD) counts as a pull: noted in
        memory, written with its ``manifest.pulled`` event by the pull recorder's batch.
        Refused (DENIED) when the pull gate's policies refuse it."""
        record, _ = await self.get_admitted(
            principal, repository, reference, download=download, request_id=request_id
        )
        return record

    async def get_admitted(
        self,
        principal: Principal,
        repository: str,
        reference: str,
        *,
        download: bool = True,
        request_id: str = "",
    ) -> tuple[ManifestRecord, Admission]:
        """``get``, with the gate's warnings for the client (a ``Warning`` header)."""
        validate_name(repository)
        self.policy.require(principal, Action.PULL, repository)
        require_possible(reference)
        if is_digest_reference(reference):
            record = await self.metadata.manifest_by_digest(repository, reference)
        else:
            record = await self.metadata.manifest_by_tag(repository, reference)
        if record is None:
            raise _unknown(reference)
        admission = ADMITTED
        if self.gate is not None:
            admission = await self.gate.admit(principal, repository, record)
        if self.pulls is not None:
            self.note_pull(
                principal, repository, reference, record, download=download, request_id=request_id
            )
        return record, admission

    def note_pull(
        self,
        principal: Principal,
        repository: str,
        reference: str,
        record: ManifestRecord,
        *,
        download: bool,
        request_id: str,
    ) -> None:
        """Count a pull (``get``'s, or of a manifest another service answered, such as the
        pull-through cache): in memory, written by the pull recorder's batch."""
        if self.pulls is None:
            return
        if not download:
            self.pulls.seen(repository, record.digest)
            return
        self.pulls.pulled(
            repository,
            record.digest,
            actor=principal.name if principal.authenticated and principal.name else None,
            request_id=request_id,
            tag="" if is_digest_reference(reference) else reference,
            media_type=record.media_type,
            size=len(record.content),
        )

    async def put(
        self,
        principal: Principal,
        repository: str,
        reference: str,
        *,
        content_type: str,
        body: bytes,
        extra_tags: list[str],
        request_id: str = "",
        request: EventRequest | None = None,
    ) -> PushedManifest:
        validate_name(repository)
        await ensure_writable(self.options, repository)
        self.policy.require(principal, Action.PUSH, repository)
        digest, tags = _digest_and_tags(reference, body, extra_tags)
        parsed = parse_manifest(body, content_type)
        if self.gate is not None and not all(map(is_attachment_tag, tags)):
            subject = parsed.subject.digest if parsed.subject else None
            pushed = ManifestRecord(digest, parsed.media_type, body, subject=subject)
            await self.gate.admit_tag_push(principal, repository, pushed)
        new = replace(
            new_manifest(digest, body, parsed, tags),
            optional_children=optional_children(parsed, self.options.index_completeness),
        )
        try:
            origin = origin_of(principal, request_id, request)
            missing = await self._record_within_quota(repository, new, origin)
        except ReferenceSizeError as error:
            raise size_refusal(parsed, error) from None
        if missing:
            raise RegistryError(
                ErrorCode.MANIFEST_BLOB_UNKNOWN,
                f"manifest references {len(missing)} unknown blob(s) or manifest(s)",
                detail={"digests": missing},
            )
        if self.gate is not None and (parsed.subject or any(map(is_attachment_tag, tags))):
            self.gate.forget()  # a signature arrived: verdicts made without it are stale
        return PushedManifest(digest, parsed.subject.digest if parsed.subject else None, tags)

    async def _record_within_quota(
        self, repository: str, new: NewManifest, origin: EventOrigin
    ) -> list[str]:
        """``_record``, holding the manifest's size in the project's quota while it is
        recorded (refused, DENIED, when it does not fit); one the repository has is free."""
        if self.quotas is None or await self.metadata.manifest_by_digest(repository, new.digest):
            return await self._record(repository, new, origin)
        async with self.quotas.holding(repository, len(new.content), origin=origin):
            missing = await self._record(repository, new, origin)
        if not missing:
            self.quotas.added(repository, len(new.content))
            await self.quotas.check_warning(repository, origin)
        return missing

    async def _record(self, repository: str, new: NewManifest, origin: EventOrigin) -> list[str]:
        """Record the manifest and its push event; refused (DENIED) when it would move an
        immutable tag (no event then: both are one transaction)."""
        if self.immutability is None or not new.tags:
            return await self.metadata.put_manifest(repository, new, origin=origin)
        frozen = await self.immutability.frozen(repository, new.tags)
        try:
            frozen_new = replace(new, frozen_tags=frozen)
            return await self.metadata.put_manifest(repository, frozen_new, origin=origin)
        except ImmutableTagError as error:
            raise await self.immutability.refused_push(
                repository, error.tag, error.current
            ) from None

    async def delete(
        self,
        principal: Principal,
        repository: str,
        reference: str,
        *,
        request_id: str = "",
        request: EventRequest | None = None,
    ) -> None:
        validate_name(repository)
        await ensure_delete_enabled(self.options, repository)
        origin = origin_of(principal, request_id, request)
        if is_digest_reference(reference):
            self.policy.require(principal, Action.DELETE, repository)
            require_possible(reference)
            deleted = await self._delete_manifest(repository, reference, origin)
        else:
            self.policy.require(principal, Action.DELETE_TAG, repository)
            require_possible(reference)
            if self.immutability is not None:
                await self.immutability.require_tag_deletable(repository, reference)
            deleted = await self.metadata.delete_tag(repository, reference, origin=origin)
        if not deleted:
            raise _unknown(reference)
        if self.gate is not None:
            self.gate.forget()  # it may have been a signature a cached verdict relied on

    async def _delete_manifest(self, repository: str, digest: str, origin: EventOrigin) -> bool:
        if self.immutability is None:
            return await self.metadata.delete_manifest(repository, digest, origin=origin)
        return await self.immutability.delete_manifest(repository, digest, origin=origin)


def _digest_and_tags(reference: str, body: bytes, extra: list[str]) -> tuple[str, tuple[str, ...]]:
    tags = [validate_tag(t) for t in extra]
    if is_digest_reference(reference):
        claimed = parse_digest(reference)
        actual = digest_of(body, claimed.algorithm)
        if actual != claimed:
            raise RegistryError(
                ErrorCode.DIGEST_INVALID,
                "manifest digest does not match the reference",
                detail={"expected": claimed.text, "actual": actual.text},
            )
        return claimed.text, tuple(dict.fromkeys(tags))
    tags.insert(0, validate_tag(reference))
    return digest_of(body).text, tuple(dict.fromkeys(tags))


def new_manifest(
    digest: str, body: bytes, parsed: ParsedManifest, tags: tuple[str, ...]
) -> NewManifest:
    blobs = [d.digest for d in parsed.blobs if not (d.mediaType in mt.FOREIGN_LAYERS and d.urls)]
    children = [d.digest for d in parsed.children if is_valid_digest(d.digest)]
    annotations = msgspec.json.encode(parsed.annotations) if parsed.annotations else None
    return NewManifest(
        digest=digest,
        media_type=parsed.media_type,
        content=body,
        artifact_type=parsed.effective_artifact_type,
        subject=parsed.subject.digest if parsed.subject else None,
        annotations_json=annotations,
        blob_digests=tuple(dict.fromkeys(blobs)),
        child_digests=tuple(dict.fromkeys(children)),
        tags=tags,
        declared_sizes=declared_sizes(parsed),
        references=tuple(
            EventReference(d.digest, d.mediaType, d.size) for d in (*parsed.blobs, *parsed.children)
        ),
    )
