"""What is pushed after its image: signature tags and referrers, in on-push runs.

cosign signs an image after it is pushed (``sha256-<hex>.sig``, ``.att``, ``.sbom`` tags),
and SBOMs and attestations are pushed by digest with a ``subject``: each arrives as its own
push event, usually after the image's run has copied the image. Such a push is copied when
what it is attached to (its *subject*: the digest in the tag's name, or the manifest's
``subject``) is an image the policy copies, that is the digest of one of the source tags the
policy selects. When that image is not at the target yet (its run is still going), the item
fails and the run is retried by the queue; when the policy does not select it, the item is
skipped. A manifest pushed by digest that refers to nothing (an index's child pushed before
its index) is left to the run of its index.

Run scopes: ``repo:tag`` (a tag pushed), ``repo:`` (a deletion: the repository), and
``repo@digest`` (a manifest pushed by digest only).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from dockyard.core.errors import RegistryError
from dockyard.core.manifest.parse import parse_manifest
from dockyard.persistence.replication_records import ItemRow
from dockyard.services.replication.copier import Copier, checked
from dockyard.services.replication.endpoints import Manifest
from dockyard.services.replication.filters import selected
from dockyard.services.replication.policy import Policy

_ATTACHED_TAG = re.compile(r"^sha256-([0-9a-f]{64})(\.(sig|att|sbom))?$")


@dataclass(frozen=True, slots=True)
class Scope:
    repository: str = ""
    tag: str = ""
    digest: str = ""

    @property
    def reference(self) -> str:
        return self.digest or self.tag


def parse_scope(text: str) -> Scope:
    if "@" in text:
        repository, _, digest = text.partition("@")
        return Scope(repository, digest=digest)
    repository, _, tag = text.partition(":")
    return Scope(repository, tag=tag)


def is_attached_tag(tag: str) -> bool:
    """A cosign tag (or the referrers fallback tag): it follows the image it names."""
    return _ATTACHED_TAG.fullmatch(tag) is not None


def subject_of(reference: str, manifest: Manifest) -> str | None:
    found = _ATTACHED_TAG.fullmatch(reference)
    if found:
        return f"sha256:{found.group(1)}"
    try:
        parsed = parse_manifest(manifest.content, manifest.media_type)
    except RegistryError:
        return None
    return parsed.subject.digest if parsed.subject is not None else None


async def copy_attached(
    copier: Copier, policy: Policy, src: str, dst: str, scope: Scope, *, dry_run: bool
) -> ItemRow:
    """Copy the signature tag or referrer ``scope`` names, if its subject is copied."""
    reference = scope.reference
    separator = "@" if scope.digest else ":"
    source_ref, target_ref = f"{src}{separator}{reference}", f"{dst}{separator}{reference}"
    manifest = checked(await copier.fetch(src, reference), reference)

    def item(outcome: str, error: str = "", sent: int = 0) -> ItemRow:
        return ItemRow(source_ref, target_ref, manifest.digest, outcome, error, sent, time.time())

    subject = subject_of(reference, manifest)
    if subject is None:
        return item("skipped", "refers to nothing: copied with its index, or by a reconcile")
    if not await _copied_by(copier, policy, src, subject):
        return item("skipped", f"{subject} is not an image this policy copies")
    if await copier.target.digest_of(dst, subject) is None:
        return item("failed", f"{subject} is not at the target yet (retried)")
    if await copier.target.digest_of(dst, reference) == manifest.digest:
        return item("skipped", "the target has it")
    if dry_run:
        return item("planned")
    tally = await copier.copy_tag(src, dst, reference, manifest)
    return item("copied", "", tally.bytes)


async def _copied_by(copier: Copier, policy: Policy, src: str, subject: str) -> bool:
    for tag in await copier.source.tags(src):
        if is_attached_tag(tag) or not selected(policy.tags, tag, versions=True):
            continue
        if await copier.source.digest_of(src, tag) == subject:
            return True
    return False
