"""Trust policies per project: which repositories must carry a signature by which signers.

A policy covers the repositories of its project whose name after ``<project>/`` matches its
pattern (``core/patterns.py``: ``**`` all of them, ``web-*``, ``{api,ui}``). Its signers are
public keys or certificate authorities (``core/signatures/trust.py``); one signature by any of
them satisfies the policy. Every policy covering a repository must be satisfied. Modes:
``enforce`` refuses a pull, ``warn`` serves it with a ``Warning`` header, ``audit`` only
records it. ``on_push`` also refuses moving a tag onto an image the policy does not accept.

Policies are read by project admins (``project:read``), changed by ``project:configure``,
audited (``trust.policy.put`` / ``trust.policy.delete``), and cached on each node for
``ttl_seconds``: a change applies everywhere within that time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from dockyard.auth.permissions import Permission, project_of
from dockyard.auth.policy import AccessPolicy
from dockyard.auth.principal import Principal
from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.core.patterns import PatternError, matches, validate_pattern
from dockyard.core.signatures.model import SignatureError
from dockyard.core.signatures.trust import Signer
from dockyard.persistence.sql.trust import TrustPolicyRow

if TYPE_CHECKING:
    from dockyard.services.identity.audit import AuditLog

MODES = ("enforce", "warn", "audit")
CACHE_SECONDS = 2.0
MAX_SIGNERS = 32
MAX_PEM = 64 * 1024
MAX_REMEMBERED = 100_000  # repositories whose covering policies are kept in memory


class TrustStore(Protocol):
    async def trust_policies(self, project: str | None = None) -> list[TrustPolicyRow]: ...
    async def put_trust_policy(self, row: TrustPolicyRow) -> TrustPolicyRow | None: ...
    async def delete_trust_policy(self, project: str, name: str) -> bool: ...
    async def parent_indexes(self, repository: str, digest: str) -> list[str]: ...


class SignerSpec(msgspec.Struct, forbid_unknown_fields=True):
    """A signer as stored and as the API takes it."""

    kind: str
    pem: str
    identities: list[str] = msgspec.field(default_factory=list)
    name: str = ""


@dataclass(frozen=True, slots=True)
class TrustPolicy:
    id: int
    project: str
    name: str
    repositories: str
    mode: str
    on_push: bool
    signers: tuple[Signer, ...]
    revision: int
    updated_by: str = ""
    updated_at: float = 0.0

    @property
    def rule(self) -> str:
        return f'trust policy "{self.name}" of project {self.project}'

    def covers(self, repository: str) -> bool:
        prefix = self.project + "/"
        return repository.startswith(prefix) and matches(
            self.repositories, repository[len(prefix) :]
        )

    def signer_specs(self) -> list[SignerSpec]:
        return [SignerSpec(s.kind, s.pem, list(s.identities), s.name) for s in self.signers]


def parse_signers(specs: Sequence[SignerSpec]) -> tuple[Signer, ...]:
    if not specs:
        raise ValueError("a trust policy needs at least one signer")
    if len(specs) > MAX_SIGNERS:
        raise ValueError(f"at most {MAX_SIGNERS} signers")
    signers = []
    for n, spec in enumerate(specs):
        if len(spec.pem) > MAX_PEM:
            raise ValueError(f"signers[{n}]: PEM larger than {MAX_PEM} bytes")
        try:
            signers.append(Signer.parse(spec.kind, spec.pem, tuple(spec.identities), spec.name))
        except SignatureError as exc:
            raise ValueError(f"signers[{n}]: {exc}") from None
    return tuple(signers)


def _policy(row: TrustPolicyRow) -> TrustPolicy:
    specs = msgspec.json.decode(row.signers_json, type=list[SignerSpec])
    return TrustPolicy(
        row.id,
        row.project,
        row.name,
        row.repositories,
        row.mode,
        row.on_push,
        parse_signers(specs),
        row.revision,
        row.updated_by,
        row.updated_at,
    )


def _bad(message: str) -> RegistryError:
    return RegistryError(ErrorCode.BAD_REQUEST, message)


class TrustPolicies:
    def __init__(
        self,
        store: TrustStore,
        policy: AccessPolicy,
        *,
        audit: AuditLog | None = None,
        ttl_seconds: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store, self.policy, self.audit = store, policy, audit
        self.ttl_seconds, self.clock = ttl_seconds, clock
        self._by_project: dict[str, tuple[TrustPolicy, ...]] = {}
        self._by_repository: dict[str, tuple[tuple[TrustPolicy, ...], Hashable | None]] = {}
        self.fresh_until = float("-inf")

    async def covering(self, repository: str) -> tuple[TrustPolicy, ...]:
        """The policies that cover ``repository`` (from memory, re-read every ttl)."""
        if self.clock() >= self.fresh_until:
            await self.refresh()
        return self.covering_now(repository)[0]

    def covering_now(self, repository: str) -> tuple[tuple[TrustPolicy, ...], Hashable | None]:
        """From memory, without looking at the clock: the policies covering ``repository`` and
        their version ((id, revision) of each; None when there are none)."""
        found = self._by_repository.get(repository)
        if found is None:
            candidates = self._by_project.get(project_of(repository), ())
            policies = tuple(p for p in candidates if p.covers(repository))
            version = tuple((p.id, p.revision) for p in policies) if policies else None
            found = (policies, version)
            if len(self._by_repository) < MAX_REMEMBERED:
                self._by_repository[repository] = found
        return found

    def version_now(self, repository: str) -> Hashable | None:
        """From memory: the (id, revision) of the policies covering ``repository``, or None."""
        found = self._by_repository.get(repository)
        return found[1] if found is not None else self.covering_now(repository)[1]

    async def refresh(self) -> None:
        """Read every policy again (one query); then trusted for ``ttl_seconds``."""
        by_project: dict[str, list[TrustPolicy]] = {}
        for row in await self.store.trust_policies():
            by_project.setdefault(row.project, []).append(_policy(row))
        self._by_project = {k: tuple(v) for k, v in by_project.items()}
        self._by_repository = {}
        self.fresh_until = self.clock() + self.ttl_seconds

    async def list(self, principal: Principal, project: str) -> list[TrustPolicy]:
        self.policy.require_project(principal, Permission.PROJECT_READ, project)
        return [_policy(row) for row in await self.store.trust_policies(project)]

    async def put(
        self,
        principal: Principal,
        project: str,
        name: str,
        *,
        repositories: str = "**",
        mode: str = "enforce",
        on_push: bool = False,
        signers: Sequence[SignerSpec],
    ) -> TrustPolicy:
        """Create or replace the project's policy ``name``; BAD_REQUEST saying what is wrong."""
        self.policy.require_project(principal, Permission.PROJECT_CONFIGURE, project)
        row = _checked_row(
            project,
            name,
            repositories=repositories,
            mode=mode,
            on_push=on_push,
            signers=signers,
            by=principal.name,
        )
        stored = await self.store.put_trust_policy(row)
        if stored is None:
            raise RegistryError(ErrorCode.NOT_FOUND, "no such project", detail={"project": project})
        self.fresh_until = float("-inf")
        detail = {"mode": mode, "repositories": repositories, "signers": len(signers)}
        await self._audit(principal, "trust.policy.put", project, name, detail)
        return _policy(stored)

    async def delete(self, principal: Principal, project: str, name: str) -> None:
        self.policy.require_project(principal, Permission.PROJECT_CONFIGURE, project)
        if not await self.store.delete_trust_policy(project, name):
            raise RegistryError(
                ErrorCode.NOT_FOUND,
                "no such trust policy",
                detail={"project": project, "name": name},
            )
        self.fresh_until = float("-inf")
        await self._audit(principal, "trust.policy.delete", project, name, {})

    async def _audit(
        self, principal: Principal, event: str, project: str, name: str, detail: dict[str, Any]
    ) -> None:
        if self.audit is not None:
            await self.audit.record(
                principal, event, f"project:{project}", detail={"name": name, **detail}
            )


def _checked_row(
    project: str,
    name: str,
    *,
    repositories: str,
    mode: str,
    on_push: bool,
    signers: Sequence[SignerSpec],
    by: str,
) -> TrustPolicyRow:
    if not name or len(name) > 128 or not name.replace("-", "").replace("_", "").isalnum():
        raise _bad("a policy name is 1-128 letters, digits, - and _")
    if mode not in MODES:
        raise _bad(f"mode must be one of {', '.join(MODES)}")
    try:
        validate_pattern(repositories)
        parse_signers(signers)
    except (PatternError, ValueError) as exc:
        raise _bad(str(exc)) from None
    signers_json = msgspec.json.encode(list(signers)).decode()
    return TrustPolicyRow(0, project, name, repositories, mode, on_push, signers_json, 0, by, 0.0)
