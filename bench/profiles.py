"""Sizes, counts, concurrencies and durations for the full run and the quick run."""

from __future__ import annotations

from dataclasses import dataclass, replace

MiB = 1 << 20
GiB = 1 << 30


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    repeats: int
    blob_size: int  # workloads 1-3
    chunk_size: int  # workload 2
    range_size: int  # workload 3, range GETs
    range_concurrency: int
    load_seconds: int  # each wrk / ab measurement
    manifest_concurrency: int  # workload 4
    tag_count: int  # workload 5
    tags_concurrency: int
    catalog_counts: tuple[int, int]  # workload 6 and 10
    catalog_page: int
    catalog_concurrency: int
    skopeo_layers: int  # workload 7
    skopeo_layer_size: int
    push_images: int  # workload 8
    push_layers: int
    push_layer_size: int
    memory_size: int  # workload 9
    scaleout_blob_size: int  # workload 12
    event_count: int  # workload 14: manifests pushed, events delivered
    event_repositories: int
    event_push_concurrency: int
    populate_concurrency: int
    disk_needed: int  # bytes free before starting
    access_log: bool = True  # both registries at their default logging; False: warn, no access log

    def with_repeats(self, repeats: int | None) -> Profile:
        return self if repeats is None else replace(self, repeats=repeats)

    def with_access_log(self, on: bool) -> Profile:
        return replace(self, access_log=on)


FULL = Profile(
    name="full",
    repeats=3,
    blob_size=1 * GiB,
    chunk_size=16 * MiB,
    range_size=1 * MiB,
    range_concurrency=8,
    load_seconds=5,
    manifest_concurrency=32,
    tag_count=10_000,
    tags_concurrency=8,
    catalog_counts=(1_000, 100_000),
    catalog_page=100,
    catalog_concurrency=1,
    skopeo_layers=5,
    skopeo_layer_size=100 * MiB,
    push_images=20,
    push_layers=3,
    push_layer_size=64 * 1024,
    memory_size=4 * GiB,
    scaleout_blob_size=1 * GiB,
    event_count=2_000,
    event_repositories=16,
    event_push_concurrency=8,
    populate_concurrency=32,
    disk_needed=25 * GiB,
)

QUICK = replace(
    FULL,
    name="quick",
    blob_size=128 * MiB,
    load_seconds=1,
    tag_count=1_000,
    catalog_counts=(100, 2_000),
    skopeo_layer_size=8 * MiB,
    memory_size=256 * MiB,
    scaleout_blob_size=64 * MiB,
    event_count=200,
    disk_needed=3 * GiB,
)

PROFILES = {"full": FULL, "quick": QUICK}
