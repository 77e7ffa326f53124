"""Shared caches and locks: an in-process fallback and Redis for many nodes.

Everything here fails open: when Redis is unreachable a cache read is a miss, a write is
skipped and a lock falls back to the node's own lock, so dockyard keeps serving, only slower.
May import only ``dockyard.core`` and config types.
"""
