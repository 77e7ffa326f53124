"""The signature check of the pull gate: every trust policy covering the repository must find
a signature of the image by one of its signers.

What is judged:

- an image manifest: its own signatures, and those of any index in the repository that lists
  it (signing a multi-arch index vouches for its platform images);
- an index: served when it is signed; when it is not, it is served anyway and each platform
  image is judged when it is pulled (its own signature or a signed index listing it), so an
  unsigned multi-arch image still cannot be pulled, and a child signed on its own can;
- signature and attestation artifacts (a manifest with a ``subject``, cosign's ``.sig``
  manifests) are never judged: clients must read them to verify anything.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from datetime import UTC, datetime

from dockyard.core import mediatypes as mt
from dockyard.core.signatures import cosign
from dockyard.core.signatures.model import SignatureError, SignedData
from dockyard.persistence.records import ManifestRecord
from dockyard.services.trust.evidence import Evidence, SignatureFinder
from dockyard.services.trust.gate import ALLOW, AUDIT, DENY, WARN, Verdict
from dockyard.services.trust.policies import TrustPolicies, TrustPolicy, TrustStore

_OUTCOME = {"enforce": DENY, "warn": WARN, "audit": AUDIT}
_SIMPLE_SIGNING = cosign.SIMPLE_SIGNING.encode()
MAX_REASONS = 3


def is_signature_artifact(record: ManifestRecord) -> bool:
    return record.subject is not None or _SIMPLE_SIGNING in record.content


class SignatureCheck:
    def __init__(
        self,
        policies: TrustPolicies,
        finder: SignatureFinder,
        store: TrustStore,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.policies, self.finder, self.store, self.now = policies, finder, store, now

    @property
    def fresh_until(self) -> float:
        return self.policies.fresh_until

    async def refresh(self) -> None:
        await self.policies.refresh()

    def scope(self, repository: str) -> Hashable | None:
        """The versions of the policies covering ``repository`` (None: no policy)."""
        return self.policies.version_now(repository)

    async def judge(self, repository: str, record: ManifestRecord) -> Sequence[Verdict]:
        if is_signature_artifact(record):
            return ()
        covering = await self.policies.covering(repository)
        evidence = await self.finder.find(repository, record.digest)
        if record.media_type in mt.INDEXES:
            verdicts = self._verdicts(covering, evidence)
            return () if any(v.outcome != ALLOW for v in verdicts) else verdicts
        await self._add_parents(repository, record.digest, evidence)
        return self._verdicts(covering, evidence)

    async def judge_tag_push(self, repository: str, record: ManifestRecord) -> Sequence[Verdict]:
        """Policies with ``on_push`` in enforce mode: the image (or index) must already be
        signed, by itself or through an index listing it, before a tag may point to it."""
        covering = [
            p for p in await self.policies.covering(repository) if p.on_push and p.mode == "enforce"
        ]
        if not covering or is_signature_artifact(record):
            return ()
        evidence = await self.finder.find(repository, record.digest)
        await self._add_parents(repository, record.digest, evidence)
        return self._verdicts(covering, evidence)

    async def _add_parents(self, repository: str, digest: str, evidence: Evidence) -> None:
        for parent in await self.store.parent_indexes(repository, digest):
            found = await self.finder.find(repository, parent)
            evidence.signatures += found.signatures
            evidence.rejected += found.rejected

    def _verdicts(self, covering: Sequence[TrustPolicy], evidence: Evidence) -> list[Verdict]:
        now = self.now()
        return [self._judge_one(policy, evidence, now) for policy in covering]

    @staticmethod
    def _judge_one(policy: TrustPolicy, evidence: Evidence, now: datetime) -> Verdict:
        reasons = list(evidence.rejected)
        for signed in evidence.signatures:
            for signer in policy.signers:
                reason = _failure(signer.verify, signed, now)
                if reason is None:
                    return Verdict(
                        ALLOW, policy.rule, f"signed ({signed.format}, {signer.describe()})"
                    )
                reasons.append(f"{signed.format}: {reason}")
        if not evidence.signatures and not evidence.rejected:
            message = "no signature found"
        else:
            shown = "; ".join(list(dict.fromkeys(reasons))[:MAX_REASONS])
            message = f"no signature by a trusted signer ({shown})"
        return Verdict(_OUTCOME[policy.mode], policy.rule, message)


def _failure(
    verify: Callable[[SignedData, datetime], None], signed: SignedData, now: datetime
) -> str | None:
    try:
        verify(signed, now)
    except SignatureError as exc:
        return str(exc)
    return None
