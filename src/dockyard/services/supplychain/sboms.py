"""Inventories and SBOMs of images, for the API, the CLI and the job queue.

An SBOM is pushed like any other artifact, through the registry's own upload and manifest
services: the document as a blob, the empty config, and an OCI image manifest with
``artifactType`` and ``subject`` (the image, or each platform's image of an index). The
referrers API then lists it; the tag-schema fallback tag (``sha256-<hex of the subject>``)
is written too, for clients that look there.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import msgspec

from dockyard.auth.grants import SYSTEM
from dockyard.auth.permissions import Permission, project_of
from dockyard.auth.policy import AccessPolicy, Action
from dockyard.auth.principal import Principal
from dockyard.core import mediatypes as mt
from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.core.reference import validate_name
from dockyard.services.identity.audit import AuditLog
from dockyard.services.registry.listing import ListingService
from dockyard.services.registry.manifests import ManifestService
from dockyard.services.registry.uploads import UploadService
from dockyard.services.supplychain.formats import MEDIA_TYPES, renderer
from dockyard.services.supplychain.inventory import ImageInventory, InventoryBuilder
from dockyard.services.supplychain.store import SupplyChainStore

log = logging.getLogger("dockyard.supplychain")
BACKGROUND = Principal("system:supplychain", identity=SYSTEM, client="")
EMPTY_CONFIG = b"{}"
FORMATS = MEDIA_TYPES  # format name -> media type


@dataclass(frozen=True, slots=True)
class AttachedSbom:
    subject: str
    platform: str
    format: str
    artifact_type: str
    digest: str  # the referrer manifest's digest
    document_digest: str
    packages: int


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


class SupplyChainService:
    def __init__(
        self,
        policy: AccessPolicy,
        builder: InventoryBuilder,
        store: SupplyChainStore,
        *,
        uploads: UploadService,
        manifests: ManifestService,
        listing: ListingService,
        audit: AuditLog | None = None,
    ) -> None:
        self.policy, self.builder, self.store = policy, builder, store
        self.uploads, self.manifests, self.listing = uploads, manifests, listing
        self.audit = audit  # setting changes are audited (project.sbom_on_push)

    async def inventory(
        self, principal: Principal, repository: str, reference: str
    ) -> list[ImageInventory]:
        """The packages of the image ``reference`` names (one entry per platform)."""
        validate_name(repository)
        self.policy.require(principal, Action.PULL, repository)
        record = await self.builder.manifest(repository, reference)
        return await self.builder.images(repository, record)

    async def generate(
        self,
        principal: Principal,
        repository: str,
        reference: str,
        formats: list[str],
        *,
        only_missing: bool = False,
    ) -> list[AttachedSbom]:
        """Make SBOMs in ``formats`` and attach them; needs push access to the repository.
        ``only_missing``: skip an image that already has an SBOM of that format."""
        unknown = [name for name in formats if name not in FORMATS]
        if unknown or not formats:
            raise RegistryError(
                ErrorCode.BAD_REQUEST,
                "SBOM format must be spdx or cyclonedx",
                detail={"formats": unknown},
            )
        validate_name(repository)
        self.policy.require(principal, Action.PUSH, repository)
        formats = list(dict.fromkeys(formats))
        attached = []
        for image in await self.inventory(principal, repository, reference):
            wanted = formats
            if only_missing:
                wanted = [n for n in formats if not await self._has(repository, image, n)]
            for name in wanted:
                attached.append(await self._attach(principal, repository, image, name))
            if wanted:
                await self._write_fallback_tag(principal, repository, image.digest)
        return attached

    async def index_and_attach(self, repository: str, digest: str) -> list[AttachedSbom]:
        """On push (called from the job queue): index the image's layers and attach both SBOMs,
        unless the project turned "SBOM on push" off or does not exist (a registry without
        projects, as registry:2 has none, makes SBOMs on demand only). Runs as the system;
        idempotent (an image that has its SBOMs is skipped, so a retried job adds nothing),
        and a push of an artifact (an SBOM, a signature) or of a referrers index does nothing."""
        if await self.store.sbom_on_push(project_of(repository)) is not True:
            return []
        record = await self.builder.manifest(repository, digest)
        if not await self.builder.has_images(repository, record):
            return []
        return await self.generate(BACKGROUND, repository, digest, list(FORMATS), only_missing=True)

    async def _has(self, repository: str, image: ImageInventory, name: str) -> bool:
        found = await self.listing.referrers(BACKGROUND, repository, image.digest, FORMATS[name])
        return bool(msgspec.json.decode(found)["manifests"])

    async def _attach(
        self, principal: Principal, repository: str, image: ImageInventory, name: str
    ) -> AttachedSbom:
        artifact_type = FORMATS[name]
        document = await asyncio.to_thread(renderer(name), repository, image)  # CPU: off the loop
        for blob in (document, EMPTY_CONFIG):
            digest = _digest(blob)
            await self.uploads.monolithic(
                principal, repository, digest, _once(blob), length=len(blob)
            )
        manifest = _referrer_manifest(image, artifact_type, document)
        pushed = await self.manifests.put(
            principal,
            repository,
            _digest(manifest),
            content_type=mt.OCI_MANIFEST,
            body=manifest,
            extra_tags=[],
        )
        return AttachedSbom(
            image.digest,
            image.platform,
            name,
            artifact_type,
            pushed.digest,
            _digest(document),
            len(image.packages),
        )

    async def _write_fallback_tag(
        self, principal: Principal, repository: str, subject: str
    ) -> None:
        """The referrers tag schema: an index of the subject's referrers under its tag."""
        body = await self.listing.referrers(principal, repository, subject, None)
        tag = subject.replace(":", "-")
        await self.manifests.put(
            principal, repository, tag, content_type=mt.OCI_INDEX, body=body, extra_tags=[]
        )

    async def sbom_on_push(self, principal: Principal, project: str) -> bool:
        """The project's "SBOM on push" switch (project readers may see it)."""
        self.policy.require_project(principal, Permission.PROJECT_READ, project)
        value = await self.store.sbom_on_push(project)
        if value is None:
            raise _no_project(project)
        return value

    async def set_sbom_on_push(self, principal: Principal, project: str, enabled: bool) -> bool:
        self.policy.require_project(principal, Permission.PROJECT_CONFIGURE, project)
        if not await self.store.set_sbom_on_push(project, enabled):
            raise _no_project(project)
        if self.audit is not None:
            detail = {"enabled": enabled}
            await self.audit.record(
                principal, "project.sbom_on_push", f"project:{project}", detail=detail
            )
        return enabled


def _no_project(project: str) -> RegistryError:
    return RegistryError(ErrorCode.NOT_FOUND, "no such project", detail={"project": project})


def _referrer_manifest(image: ImageInventory, artifact_type: str, document: bytes) -> bytes:
    manifest = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": {
            "mediaType": mt.OCI_EMPTY_CONFIG,
            "digest": _digest(EMPTY_CONFIG),
            "size": 2,
        },
        "layers": [
            {"mediaType": artifact_type, "digest": _digest(document), "size": len(document)}
        ],
        "subject": {"mediaType": image.media_type, "digest": image.digest, "size": image.size},
        "annotations": {"org.opencontainers.image.title": f"sbom.{artifact_type.split('/')[1]}"},
    }
    return msgspec.json.encode(manifest)
