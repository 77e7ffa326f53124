"""Deciding, per repository, which images a retention policy deletes and why (pure).

An **image** is a manifest that no index in the repository lists and that does not refer
(``subject``) to a manifest present in it: what a user pushed and would delete. A policy
decides about images only; deleting an image also deletes what belonged to it: the manifests
only its index listed and the untagged artifacts (signatures, SBOMs) that refer to it.

For a tagged image, deletion needs every criterion the policy sets to agree: not among the
``keep_last`` most recently pushed tagged images, pushed longer ago than ``older_than``, and
not pulled for ``not_pulled_for`` (an image's last pull is its own or any of its index's
children's; one never pulled, or not since its last push, counts from that push).
A tag matching ``keep_tags``, an immutable tag, or a push within the grace period keeps it;
images kept by a tag (``keep_tags``, immutable) do not count towards ``keep_last``.
Untagged images go when the policy says ``untagged`` (and they are older than
``older_than`` and unpulled for ``not_pulled_for``, if set). The same function serves dry
runs and real runs, so both agree.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from dockyard.core.patterns import matches
from dockyard.persistence.lifecycle_records import ManifestEntry

DAY = 86400.0


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    name: str
    repositories: str = "**"
    keep_last: int | None = None
    keep_tags: tuple[str, ...] = ()
    untagged: bool = False
    older_than: float | None = None  # seconds
    not_pulled_for: float | None = None  # seconds

    def covers(self, repository: str) -> bool:
        return matches(self.repositories, repository)


@dataclass(frozen=True, slots=True)
class Decision:
    repository: str
    digest: str
    tags: tuple[str, ...]
    delete: bool
    reason: str
    policy: str
    pushed_at: float
    part_of: str | None = None  # the deleted image this manifest belonged to
    untag: tuple[str, ...] = ()  # with delete False: remove only these tags (bulk deletion)


@dataclass(frozen=True, slots=True)
class PlanContext:
    now: float
    grace: float
    immutable: Callable[[str], str | None]  # tag -> the rule protecting it, if any


def age_text(seconds: float) -> str:
    if seconds >= 2 * DAY:
        return f"{seconds / DAY:.0f} days"
    if seconds >= 2 * 3600:
        return f"{seconds / 3600:.0f} hours"
    return f"{seconds / 60:.0f} minutes"


@dataclass(frozen=True, slots=True)
class Idle:
    """How long an image has gone unused: since its last pull, or since its push."""

    seconds: float
    pulled_at: float | None  # None: not pulled since its last push

    def text(self) -> str:
        if self.pulled_at is None:
            return f"not pulled since its push {age_text(self.seconds)} ago"
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(self.pulled_at))
        return f"not pulled since {when} ({age_text(self.seconds)})"


def idle_of(entry: ManifestEntry, entries: dict[str, ManifestEntry], now: float) -> Idle:
    """The image's last pull: its own, or any of its children's (an index's platforms)."""
    pulls = [entry.last_pulled_at] + [
        entries[c].last_pulled_at for c in entry.children if c in entries
    ]
    pulled = max((p for p in pulls if p is not None), default=None)
    if pulled is None or pulled < entry.pushed_at:
        return Idle(now - entry.pushed_at, None)
    return Idle(now - pulled, pulled)


def plan_repository(
    repository: str, entries: list[ManifestEntry], policy: RetentionPolicy, ctx: PlanContext
) -> list[Decision]:
    """A decision for every image of the repository, then the manifests that go with them."""
    images = images_of(entries)
    ranked = [e for e in images if e.tags and _kept_by_tag(e, policy, ctx) is None]
    ranked.sort(key=lambda e: (-e.pushed_at, e.digest))
    rank = {e.digest: index for index, e in enumerate(ranked)}
    by_digest = {e.digest: e for e in entries}
    decisions = [
        _decide(repository, e, rank.get(e.digest), policy, ctx, idle=idle_of(e, by_digest, ctx.now))
        for e in sorted(images, key=lambda e: (-e.pushed_at, e.digest))
    ]
    doomed = [d.digest for d in decisions if d.delete]
    return decisions + belonging(repository, entries, doomed, policy.name)


def images_of(entries: list[ManifestEntry]) -> list[ManifestEntry]:
    """The manifests no index lists and that refer to no manifest present: what users push."""
    present = {e.digest for e in entries}
    listed = {child for e in entries for child in e.children}
    return [
        e for e in entries if e.digest not in listed and not (e.subject and e.subject in present)
    ]


def _decide(
    repository: str,
    entry: ManifestEntry,
    rank: int | None,
    policy: RetentionPolicy,
    ctx: PlanContext,
    *,
    idle: Idle,
) -> Decision:
    tags = tuple(sorted(entry.tags))
    reason, delete = _reason(entry, rank, policy, ctx, idle)
    return Decision(repository, entry.digest, tags, delete, reason, policy.name, entry.pushed_at)


def _reason(
    entry: ManifestEntry, rank: int | None, policy: RetentionPolicy, ctx: PlanContext, idle: Idle
) -> tuple[str, bool]:
    age = ctx.now - entry.pushed_at
    if age < ctx.grace:
        return f"pushed {age_text(age)} ago, within the grace period", False
    kept = _kept_by_tag(entry, policy, ctx)
    if kept is not None:
        return kept, False
    if not entry.tags:
        return _untagged(age, policy, idle)
    return _tagged(age, rank or 0, policy, idle)


def _recently_pulled(policy: RetentionPolicy, idle: Idle) -> str | None:
    """Why the pull criterion keeps the image, or None when it agrees to delete (or is unset)."""
    limit = policy.not_pulled_for
    if limit is None or idle.seconds >= limit:
        return None
    if idle.pulled_at is None:
        return f"{idle.text()}, under {age_text(limit)}"
    return f"pulled {age_text(idle.seconds)} ago (within {age_text(limit)})"


def _pull_reason(policy: RetentionPolicy, idle: Idle) -> list[str]:
    if policy.not_pulled_for is None:
        return []
    return [f"{idle.text()}, longer than {age_text(policy.not_pulled_for)}"]


def _kept_by_tag(entry: ManifestEntry, policy: RetentionPolicy, ctx: PlanContext) -> str | None:
    for tag in sorted(entry.tags):
        rule = ctx.immutable(tag)
        if rule is not None:
            return f'tag "{tag}" is immutable ({rule})'
    for tag in sorted(entry.tags):
        pattern = next((p for p in policy.keep_tags if matches(p, tag)), None)
        if pattern is not None:
            return f'tag "{tag}" matches "{pattern}"'
    return None


def _untagged(age: float, policy: RetentionPolicy, idle: Idle) -> tuple[str, bool]:
    if not policy.untagged:
        return "untagged, and the policy keeps untagged images", False
    if policy.older_than is not None and age < policy.older_than:
        limit = age_text(policy.older_than)
        return f"untagged, pushed {age_text(age)} ago (not older than {limit})", False
    recently = _recently_pulled(policy, idle)
    if recently is not None:
        return f"untagged, {recently}", False
    return "; ".join([f"untagged, pushed {age_text(age)} ago", *_pull_reason(policy, idle)]), True


def _tagged(age: float, rank: int, policy: RetentionPolicy, idle: Idle) -> tuple[str, bool]:
    keep_last, older_than = policy.keep_last, policy.older_than
    if keep_last is None and older_than is None and policy.not_pulled_for is None:
        return "tagged, and the policy only deletes untagged images", False
    if keep_last is not None and rank < keep_last:
        return f"#{rank + 1} of the {keep_last} most recently pushed tagged images", False
    if older_than is not None and age < older_than:
        return f"pushed {age_text(age)} ago (not older than {age_text(older_than)})", False
    recently = _recently_pulled(policy, idle)
    if recently is not None:
        return recently, False
    why = []
    if keep_last is not None:
        why.append(f"#{rank + 1} most recently pushed tagged image (keeping {keep_last})")
    if older_than is not None:
        why.append(f"pushed {age_text(age)} ago (older than {age_text(older_than)})")
    return "; ".join(why + _pull_reason(policy, idle)), True


def belonging(
    repository: str, entries: list[ManifestEntry], doomed: Iterable[str], policy: str
) -> list[Decision]:
    """Untagged manifests that only deleted indexes list, and untagged artifacts referring to
    deleted manifests, repeatedly (an index's signature, a child's SBOM)."""
    by_digest = {e.digest: e for e in entries}
    parents: dict[str, list[str]] = {}
    for entry in entries:
        for child in entry.children:
            parents.setdefault(child, []).append(entry.digest)
    gone = set(doomed)
    extra: list[Decision] = []
    changed = True
    while changed:
        changed = False
        for entry in entries:
            owner = _owner(entry, parents, gone, by_digest)
            if owner is None:
                continue
            gone.add(entry.digest)
            changed = True
            reason = f"belongs to deleted {owner}"
            extra.append(
                Decision(repository, entry.digest, (), True, reason, policy, entry.pushed_at, owner)
            )
    return extra


def _owner(
    entry: ManifestEntry,
    parents: dict[str, list[str]],
    gone: set[str],
    by_digest: dict[str, ManifestEntry],
) -> str | None:
    if entry.digest in gone or entry.tags:
        return None
    listing = parents.get(entry.digest, [])
    if listing and all(p in gone for p in listing):
        return listing[0]
    if entry.subject and entry.subject in by_digest and entry.subject in gone and not listing:
        return entry.subject
    return None
