"""What a garbage collection run would delete, worked out without deleting anything.

A real ``--delete-untagged`` run deletes, round after round, every untagged manifest (older
than the grace period) that no index in its repository lists and whose subject is gone;
each round can free more (an index's children, a deleted subject's referrers). Then it sweeps
the blobs no remaining manifest references. :func:`untagged_rounds` plays those rounds on the
graph the store reads, and :func:`freed_blobs` keeps the blobs only deleted manifests used,
so a dry run reports what the real run deletes: manifests, then blobs, with their bytes.
"""

from __future__ import annotations

from collections import defaultdict

from dockyard.persistence.lifecycle_records import UntaggedGraph


def untagged_rounds(graph: UntaggedGraph) -> list[int]:
    """Ids of the manifests the real run deletes, in the order it deletes them."""
    holders: dict[int, set[int]] = defaultdict(set)
    for candidate, holder in [*graph.parents, *graph.subjects]:
        holders[candidate].add(holder)
    deleted: set[int] = set()
    order: list[int] = []
    pending = sorted(graph.candidates)
    while True:
        batch = [m for m in pending if holders[m] <= deleted]
        if not batch:
            return order
        order += batch
        deleted.update(batch)
        pending = [m for m in pending if m not in deleted]


def freed_blobs(
    rows: list[tuple[str, int, int | None]], deleted: set[int]
) -> list[tuple[str, int]]:
    """(digest, size) of the blobs whose every referencing manifest is in ``deleted``."""
    sizes: dict[str, int] = {}
    kept: set[str] = set()
    for digest, size, manifest in rows:
        sizes[digest] = size
        if manifest is not None and manifest not in deleted:
            kept.add(digest)
    return [(digest, size) for digest, size in sizes.items() if digest not in kept]
