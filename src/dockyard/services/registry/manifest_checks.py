"""What a pushed manifest declares about its references, checked against what the registry
holds: descriptor sizes (a wrong one breaks every pull) and which children of an index may be
absent (``validation.manifests.indexes``)."""

from __future__ import annotations

from typing import Any

from dockyard.config.validation import IndexCompleteness
from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.core.manifest import ParsedManifest
from dockyard.persistence.records import ReferenceSizeError


def declared_sizes(parsed: ParsedManifest) -> tuple[tuple[str, int], ...]:
    """(digest, size) of every blob and child; MANIFEST_INVALID when a manifest gives one
    digest two sizes (one of them is wrong whatever the registry holds)."""
    sizes: dict[str, tuple[int, str]] = {}
    for where, descriptor in parsed.named_references():
        size, first = sizes.setdefault(descriptor.digest, (descriptor.size, where))
        if size != descriptor.size:
            raise RegistryError(
                ErrorCode.MANIFEST_INVALID,
                f"{where}: size {descriptor.size} differs from {first}'s {size} "
                f"for the same digest",
                detail={
                    "descriptor": where,
                    "digest": descriptor.digest,
                    "sizes": [size, descriptor.size],
                },
            )
    return tuple((digest, size) for digest, (size, _) in sizes.items())


def optional_children(parsed: ParsedManifest, rule: IndexCompleteness) -> frozenset[str]:
    """Children of an index that need not be in the repository under ``rule``."""
    return frozenset(d.digest for d in parsed.children if not rule.requires(d.platform))


def size_refusal(parsed: ParsedManifest, error: ReferenceSizeError) -> RegistryError:
    """MANIFEST_INVALID naming each descriptor whose size differs from the stored content."""
    stored = {m.digest: m for m in error.mismatches}
    wrong: list[dict[str, Any]] = [
        {"descriptor": where, "digest": d.digest, "size": d.size, "stored": stored[d.digest].stored}
        for where, d in parsed.named_references()
        if d.digest in stored
    ]
    first = wrong[0]
    return RegistryError(
        ErrorCode.MANIFEST_INVALID,
        f"{first['descriptor']}: size {first['size']} differs from the {first['stored']} bytes "
        f"the registry holds for {first['digest']}",
        detail={"descriptors": wrong},
    )
