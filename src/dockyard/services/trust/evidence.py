"""Find the signatures stored for an image: cosign's ``sha256-<hex>.sig`` tag, and the
Sigstore bundles and Notation envelopes among its OCI 1.1 referrers.

Each signature blob is read from storage whole (they are small: larger than
``MAX_SIGNATURE_BLOB`` is skipped; at most ``MAX_REFERRERS`` referrers and
``MAX_TAG_SIGNATURES`` tag-scheme signatures are read), its digest checked against the
descriptor, and parsed into ``SignedData`` for that image digest. A signature that cannot be
parsed, or that names another digest, is kept as a rejection with the reason, so a refusal can
say what was found.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from dockyard.core.descriptors import Descriptor
from dockyard.core.digest import digest_of, parse_digest
from dockyard.core.errors import RegistryError
from dockyard.core.manifest import ParsedManifest, parse_manifest
from dockyard.core.signatures import cosign, notation
from dockyard.core.signatures.model import SignatureError, SignedData
from dockyard.persistence.stores import MetadataStore
from dockyard.storage.driver import StorageDriver, StorageError
from dockyard.storage.layout import blob_path

MAX_SIGNATURE_BLOB = 1024 * 1024
MAX_REFERRERS = 64
MAX_TAG_SIGNATURES = 64  # layers of one .sig manifest looked at
SIGNATURE_ARTIFACTS = (cosign.BUNDLE_MEDIA_TYPE, notation.ARTIFACT_TYPE)


@dataclass(slots=True)
class Evidence:
    """What was found for one digest: usable signatures and the reasons others were not."""

    signatures: list[SignedData] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)


class SignatureFinder:
    def __init__(
        self, metadata: MetadataStore, storage: StorageDriver, clock: Callable[[], datetime]
    ) -> None:
        self.metadata, self.storage, self.clock = metadata, storage, clock

    async def find(self, repository: str, digest: str) -> Evidence:
        evidence = Evidence()
        await self._tag_scheme(repository, digest, evidence)
        referrers = await self.metadata.referrers(repository, digest, None)
        for referrer in referrers[:MAX_REFERRERS]:
            if referrer.artifact_type in SIGNATURE_ARTIFACTS:
                await self._referrer(repository, referrer.digest, digest, evidence)
        return evidence

    async def _tag_scheme(self, repository: str, digest: str, evidence: Evidence) -> None:
        manifest = await self._manifest(repository, cosign.signature_tag(digest), tag=True)
        if manifest is None:
            return
        for layer in manifest.blobs[1 : 1 + MAX_TAG_SIGNATURES]:  # blobs[0] is the config
            if layer.mediaType != cosign.SIMPLE_SIGNING:
                continue
            payload = await self._blob(layer, evidence)
            if payload is not None:
                _keep(evidence, cosign.simple_signing, payload, layer.annotations or {}, digest)

    async def _referrer(
        self, repository: str, referrer: str, digest: str, evidence: Evidence
    ) -> None:
        manifest = await self._manifest(repository, referrer, tag=False)
        if manifest is None or len(manifest.blobs) < 2:
            evidence.rejected.append(f"{referrer}: not a signature manifest")
            return
        layer = manifest.blobs[1]
        document = await self._blob(layer, evidence)
        if document is None:
            return
        if manifest.effective_artifact_type == cosign.BUNDLE_MEDIA_TYPE:
            _keep(evidence, cosign.bundle, document, digest)
        else:
            _keep(evidence, notation.envelope, layer.mediaType, document, digest, self.clock())

    async def _manifest(
        self, repository: str, reference: str, *, tag: bool
    ) -> ParsedManifest | None:
        if tag:
            record = await self.metadata.manifest_by_tag(repository, reference)
        else:
            record = await self.metadata.manifest_by_digest(repository, reference)
        if record is None:
            return None
        try:
            return parse_manifest(record.content, record.media_type)
        except RegistryError:
            return None

    async def _blob(self, layer: Descriptor, evidence: Evidence) -> bytes | None:
        if layer.size > MAX_SIGNATURE_BLOB:
            evidence.rejected.append(f"{layer.digest}: signature blob too large")
            return None
        try:
            expected = parse_digest(layer.digest)
            data = await self.storage.get_content(blob_path(expected))
        except (RegistryError, StorageError):
            evidence.rejected.append(f"{layer.digest[:80]}: signature blob unreadable")
            return None
        if digest_of(data, expected.algorithm) != expected:
            evidence.rejected.append(f"{layer.digest}: signature blob does not match its digest")
            return None
        return data


def _keep(evidence: Evidence, parse: Callable[..., SignedData], *args: object) -> None:
    """Parse a signature into ``evidence``: kept, or its rejection noted."""
    try:
        evidence.signatures.append(parse(*args))
    except SignatureError as exc:
        evidence.rejected.append(str(exc))
