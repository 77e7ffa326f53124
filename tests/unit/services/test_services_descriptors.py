"""The blob descriptor cache keeps per-process entries briefly, shared ones for the long TTL."""

from __future__ import annotations

from dockyard.cache.base import MemoryCache, NullCache
from dockyard.services.registry.descriptors import (
    LOCAL_TTL_SECONDS,
    TTL_SECONDS,
    BlobDescriptorCache,
)


def test_a_per_process_cache_keeps_descriptors_briefly() -> None:
    """No other process can invalidate an in-memory entry (``dockyard gc`` run by hand), so
    it expires sooner than an entry in the shared cache, which every removal invalidates."""
    assert BlobDescriptorCache(MemoryCache()).ttl_seconds == LOCAL_TTL_SECONDS
    assert BlobDescriptorCache(NullCache()).ttl_seconds == TTL_SECONDS
    assert LOCAL_TTL_SECONDS < TTL_SECONDS
    assert BlobDescriptorCache(MemoryCache(), ttl_seconds=5.0).ttl_seconds == 5.0
