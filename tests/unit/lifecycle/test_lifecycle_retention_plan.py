"""Retention decisions: what each policy deletes and keeps, and why (pure)."""

from __future__ import annotations

from dockyard.persistence.lifecycle_records import ManifestEntry
from dockyard.services.lifecycle.retention_plan import (
    DAY,
    Decision,
    PlanContext,
    RetentionPolicy,
    plan_repository,
)

NOW = 1_000_000_000.0


def image(name: str, days_ago: float, *tags: str, **extra: object) -> ManifestEntry:
    pushed = NOW - days_ago * DAY
    return ManifestEntry(
        digest=f"sha256:{name}", media_type="m", size=1, created_at=pushed,
        tags=dict.fromkeys(tags, pushed), **extra,  # type: ignore[arg-type]
    )  # fmt: skip


def plan(
    entries: list[ManifestEntry], policy: RetentionPolicy, **ctx: object
) -> dict[str, Decision]:
    context = PlanContext(now=NOW, grace=3600, immutable=lambda tag: None)
    if ctx:
        context = PlanContext(now=NOW, grace=3600, **ctx)  # type: ignore[arg-type]
    return {
        d.digest.removeprefix("sha256:"): d for d in plan_repository("r", entries, policy, context)
    }


def deleted(decisions: dict[str, Decision]) -> set[str]:
    return {name for name, d in decisions.items() if d.delete}


def test_keep_last_with_kept_tags() -> None:
    entries = [image(f"b{n}", 10 - n, f"build-{n}") for n in range(5)]
    entries.append(image("rel", 20, "v1.0"))
    policy = RetentionPolicy("ci", keep_last=2, keep_tags=("v*",))
    decisions = plan(entries, policy)
    assert deleted(decisions) == {"b0", "b1", "b2"}
    assert decisions["b4"].reason == "#1 of the 2 most recently pushed tagged images"
    assert decisions["b2"].reason == "#3 most recently pushed tagged image (keeping 2)"
    assert decisions["rel"].reason == 'tag "v1.0" matches "v*"'


def test_older_than_and_keep_last_must_both_agree() -> None:
    entries = [image("new", 2, "a"), image("mid", 40, "b"), image("old", 50, "c")]
    only_age = plan(entries, RetentionPolicy("p", older_than=30 * DAY))
    assert deleted(only_age) == {"mid", "old"}
    assert "pushed 50 days ago (older than 30 days)" in only_age["old"].reason
    both = plan(entries, RetentionPolicy("p", keep_last=2, older_than=30 * DAY))
    assert deleted(both) == {"old"}, "mid is old but among the 2 most recent"


def test_untagged_grace_and_immutable() -> None:
    entries = [
        image("loose", 3),
        image("fresh", 0.01),  # 15 minutes: within the grace period
        image("pinned", 90, "v1"),
        image("plain", 90, "x"),
    ]
    policy = RetentionPolicy("p", untagged=True, older_than=30 * DAY)
    decisions = plan(entries, policy, immutable=lambda tag: "rule v*" if tag == "v1" else None)
    assert deleted(decisions) == {"plain"}, "loose is untagged but younger than 30 days"
    assert decisions["fresh"].reason.endswith("within the grace period")
    assert decisions["pinned"].reason == 'tag "v1" is immutable (rule v*)'
    untagged_only = plan(entries, RetentionPolicy("p", untagged=True))
    assert deleted(untagged_only) == {"loose"}
    assert untagged_only["plain"].reason == "tagged, and the policy only deletes untagged images"


def test_an_index_goes_with_its_children_and_referrers() -> None:
    child_a, child_b, shared = image("ca", 60), image("cb", 60), image("sh", 60)
    index = image("idx", 60, "old", children=("sha256:ca", "sha256:sh"))
    other = image("idx2", 1, "new", children=("sha256:cb", "sha256:sh"))
    signature = image("sig", 60, subject="sha256:idx")
    signed_and_tagged = image("sbom", 60, "sbom-tag", subject="sha256:idx")
    entries = [child_a, child_b, shared, index, other, signature, signed_and_tagged]
    decisions = plan(entries, RetentionPolicy("p", keep_last=1))
    assert deleted(decisions) == {"idx", "ca", "sig"}
    assert decisions["ca"].reason == "belongs to deleted sha256:idx"
    assert decisions["ca"].part_of == "sha256:idx"
    assert "sh" not in decisions, "listed by a kept index: not an image, not deleted"
    assert "sbom" not in decisions, "a tagged referrer stays (it is not an image)"
    order = [d.digest for d in plan_repository(
        "r", entries, RetentionPolicy("p", keep_last=1),
        PlanContext(now=NOW, grace=0, immutable=lambda tag: None),
    )]  # fmt: skip
    assert order.index("sha256:idx") < order.index("sha256:ca"), "parents go first"
