"""Tag immutability: tags matching a rule may be created, never moved or deleted.

Rules pair a repository pattern with a tag pattern (``core/patterns.py``); they come from the
configuration (``dockyard.immutability.rules``) and from the database (``dockyard immutable
add``), the latter re-read at most every ``ttl_seconds``. A push that would move such a tag,
a delete of such a tag, and a delete of a manifest that carries one (or that an index carrying
one lists) are refused with ``DENIED`` (403), as Docker Hub answers, with a message naming the
tag and the rule. Pushing the same digest again under the tag is allowed (CI retries).

Tags that only carry things about an image are exempt, whatever the rules say: cosign's
``sha256-<hex>.sig`` / ``.att`` / ``.sbom`` and the referrers tag schema's ``sha256-<hex>``
move with every signature, attestation or SBOM added (a rule such as ``sha256-*`` or ``**``
would otherwise refuse the second signature of an image).

The push check runs inside the push's transaction (``NewManifest.frozen_tags``), and the
manifest delete re-reads the tags inside the deleting one, so races cannot slip through.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from dockyard.auth.principal import Principal
from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.core.events import EventOrigin
from dockyard.core.patterns import matches, validate_pattern
from dockyard.core.signatures.cosign import is_attachment_tag
from dockyard.persistence.lifecycle_records import (
    ImmutableRuleStore,
    InventoryStore,
    ManifestFacts,
)
from dockyard.services.events import origin_of

CACHE_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class ImmutableRule:
    repositories: str
    tags: str
    id: int | None = None  # None: from the configuration

    def covers(self, repository: str, tag: str) -> bool:
        return self.covers_tag(tag) and matches(self.repositories, repository)

    def covers_tag(self, tag: str) -> bool:
        """The rule's tag pattern matches, and the tag is not an attachment tag."""
        return not is_attachment_tag(tag) and matches(self.tags, tag)

    def describe(self) -> str:
        origin = f"#{self.id}" if self.id is not None else "configuration"
        return f'repositories "{self.repositories}", tags "{self.tags}" ({origin})'


class ImmutabilityService:
    def __init__(
        self,
        store: ImmutableRuleStore,
        inventory: InventoryStore,
        configured: Iterable[ImmutableRule] = (),
        *,
        ttl_seconds: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.inventory = inventory
        self.configured = tuple(configured)
        self.ttl_seconds = ttl_seconds
        self.clock = clock
        self._stored: tuple[ImmutableRule, ...] = ()
        self._fresh_until = float("-inf")

    async def rules(self) -> tuple[ImmutableRule, ...]:
        """Configured rules, then stored ones (cached for ``ttl_seconds``)."""
        if self.clock() >= self._fresh_until:
            records = await self.store.immutable_rules()
            self._stored = tuple(ImmutableRule(r.repositories, r.tags, r.id) for r in records)
            self._fresh_until = self.clock() + self.ttl_seconds
        return self.configured + self._stored

    async def rule_for(self, repository: str, tag: str) -> ImmutableRule | None:
        return next((r for r in await self.rules() if r.covers(repository, tag)), None)

    async def frozen(self, repository: str, tags: Iterable[str]) -> tuple[str, ...]:
        """Which of ``tags`` are immutable in ``repository``."""
        rules = await self.rules_for(repository)
        return tuple(t for t in tags if any(r.covers_tag(t) for r in rules))

    async def refused_push(self, repository: str, tag: str, current: str) -> RegistryError:
        rule = await self.rule_for(repository, tag)
        why = f"rule {rule.describe()}" if rule else "an immutability rule"
        return RegistryError(
            ErrorCode.DENIED,
            f'tag "{tag}" of {repository} is immutable ({why}) and points to {current}; '
            "push under a new tag instead",
            detail={"repository": repository, "tag": tag, "digest": current},
        )

    async def require_tag_deletable(self, repository: str, tag: str) -> None:
        rule = await self.rule_for(repository, tag)
        if rule is not None:
            raise RegistryError(
                ErrorCode.DENIED,
                f'tag "{tag}" of {repository} is immutable (rule {rule.describe()}) '
                "and cannot be deleted",
                detail={"repository": repository, "tag": tag},
            )

    async def rules_for(self, repository: str) -> list[ImmutableRule]:
        return [r for r in await self.rules() if matches(r.repositories, repository)]

    async def delete_manifest(
        self, repository: str, digest: str, *, origin: EventOrigin | None = None
    ) -> bool:
        """Delete the manifest unless it (or an index listing it) carries an immutable tag;
        False when there is no such manifest."""
        rules = await self.rules_for(repository)

        def veto(facts: ManifestFacts) -> str | None:
            return protected_by(rules, repository, digest, facts)

        outcome = await self.inventory.delete_manifest_checked(
            repository, digest, veto, origin=origin
        )
        if outcome not in ("deleted", "missing"):
            raise RegistryError(ErrorCode.DENIED, outcome, detail={"digest": digest})
        return outcome == "deleted"

    async def unlink_blob(
        self, repository: str, digest: str, *, origin: EventOrigin | None = None
    ) -> bool:
        """Unlink the blob from the repository unless a manifest there that needs it carries
        an immutable tag (or an index listing it does): DENIED then. False when not linked."""
        rules = await self.rules_for(repository)

        def veto(users: list[tuple[str, str]]) -> str | None:
            for tag, manifest in users:
                rule = next((r for r in rules if r.covers_tag(tag)), None)
                if rule is not None:
                    return (
                        f"blob {digest} of {repository} is needed by {manifest}, which the "
                        f'immutable tag "{tag}" keeps (rule {rule.describe()}); it cannot be '
                        "deleted"
                    )
            return None

        outcome = await self.inventory.unlink_blob_checked(repository, digest, veto, origin=origin)
        if outcome not in ("deleted", "missing"):
            raise RegistryError(ErrorCode.DENIED, outcome, detail={"digest": digest})
        return outcome == "deleted"

    # management (CLI) -------------------------------------------------------------------

    async def add_rule(
        self, repositories: str, tags: str, *, by: Principal | None = None
    ) -> ImmutableRule:
        """Store a rule; a new one is a ``policy.changed`` event attributed to ``by``."""
        validate_pattern(repositories)
        validate_pattern(tags)
        if "/" in tags:
            raise ValueError("a tag pattern cannot contain /")
        origin = None if by is None else origin_of(by)
        rule_id = await self.store.add_immutable_rule(repositories, tags, origin=origin)
        self._fresh_until = float("-inf")
        return ImmutableRule(repositories, tags, rule_id)

    async def remove_rule(self, rule_id: int, *, by: Principal | None = None) -> bool:
        self._fresh_until = float("-inf")
        origin = None if by is None else origin_of(by)
        return await self.store.remove_immutable_rule(rule_id, origin=origin)


def protected_by(
    rules: list[ImmutableRule], repository: str, digest: str, facts: ManifestFacts
) -> str | None:
    """Why the manifest may not be deleted (an immutable tag on it or on an index listing it),
    or None."""
    where_tags = ((facts.tags, "carries"), (facts.parent_tags, "is listed by an index carrying"))
    for tags, where in where_tags:
        for tag in tags:
            rule = next((r for r in rules if r.covers_tag(tag)), None)
            if rule is not None:
                return (
                    f'manifest {digest} of {repository} {where} the immutable tag "{tag}" '
                    f"(rule {rule.describe()}) and cannot be deleted"
                )
    return None
