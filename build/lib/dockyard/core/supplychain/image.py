"""An image's inventory: its layers' inventories applied bottom to top.

A layer's whiteout removes the packages lower layers read from that path or below it; an
opaque directory removes those below it; a package database the layer writes again replaces
the lower one's packages (an ``apt-get remove`` rewrites ``status``).
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from dockyard.core.supplychain.model import LayerInventory, Package


def _under(path: str, roots: Sequence[str]) -> bool:
    return any(root in ("", path) or path.startswith(root + "/") for root in roots)


def apply_layers(layers: Sequence[LayerInventory]) -> list[Package]:
    """The packages present after every layer, each tagged with the layer that added it."""
    present: list[Package] = []
    for layer in layers:
        hidden = (*layer.whiteouts, *layer.opaque)
        replaced = set(layer.sources)
        present = [p for p in present if p.path not in replaced and not _under(p.path, hidden)]
        present.extend(msgspec.structs.replace(p, layer=layer.digest) for p in layer.packages)
    return sorted(present, key=lambda p: (p.ecosystem, p.name, p.version, p.path))
