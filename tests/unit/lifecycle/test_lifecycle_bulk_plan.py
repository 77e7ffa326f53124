"""Bulk deletion selections (pure): whole images, tags only, protected ones."""

from __future__ import annotations

import pytest

from dockyard.persistence.lifecycle_records import ManifestEntry
from dockyard.services.lifecycle.bulk_delete import Selection, plan_bulk
from dockyard.services.lifecycle.retention_plan import DAY, Decision, PlanContext

NOW = 1_000_000_000.0


def image(name: str, days_ago: float, *tags: str, **extra: object) -> ManifestEntry:
    pushed = NOW - days_ago * DAY
    return ManifestEntry(
        digest=f"sha256:{name}", media_type="m", size=1, created_at=pushed,
        tags=dict.fromkeys(tags, pushed), **extra,  # type: ignore[arg-type]
    )  # fmt: skip


ENTRIES = [
    image("pr1", 10, "pr-1"),
    image("shared", 10, "pr-2", "latest"),
    image("frozen", 10, "pr-3", "release-3"),
    image("fresh", 0.01, "pr-4"),
    image("loose", 40),
    image("child", 40),
    image("index", 40, "pr-5", children=("sha256:child",)),
]


def plan(selection: Selection) -> dict[str, Decision]:
    ctx = PlanContext(
        now=NOW, grace=3600, immutable=lambda tag: "rule" if tag.startswith("release") else None
    )
    return {d.digest[7:]: d for d in plan_bulk("ci/app", ENTRIES, selection, ctx)}


def test_by_tag_pattern() -> None:
    decisions = plan(Selection("ci/*", tags="pr-*"))
    assert {k for k, d in decisions.items() if d.delete} == {"pr1", "index", "child"}
    assert decisions["shared"].untag == ("pr-2",) and not decisions["shared"].delete
    assert decisions["shared"].reason.endswith("the image keeps latest")
    assert decisions["frozen"].untag == ("pr-3",), "pr-3 may go: only release-3 is immutable"
    whole = plan(Selection("ci/*", tags="*-3"))["frozen"]
    assert whole.reason == 'tag "release-3" is immutable (rule)'
    assert not whole.delete and not whole.untag
    assert "fresh" not in decisions, "within the grace period"
    assert decisions["child"].reason == "belongs to deleted sha256:index"
    assert decisions["pr1"].policy == "dockyard delete --repo ci/* --tag pr-*"


@pytest.mark.parametrize(
    ("selection", "deleted"),
    [
        (Selection("**", untagged=True), {"loose"}),
        (Selection("**", older_than=30 * DAY), {"loose", "index", "child"}),
        (Selection("**", untagged=True, older_than=60 * DAY), set()),
    ],
)
def test_by_age_and_untagged(selection: Selection, deleted: set[str]) -> None:
    assert {k for k, d in plan(selection).items() if d.delete} == deleted
