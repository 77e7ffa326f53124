"""CycloneDX 1.6 JSON for one image inventory, built with cyclonedx-python-lib."""

from __future__ import annotations

from cyclonedx.model import Property
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL

from dockyard.core.supplychain.model import Package
from dockyard.services.supplychain.inventory import ImageInventory


def _component(n: int, found: Package) -> Component:
    return Component(
        name=found.name,
        version=found.version,
        type=ComponentType.LIBRARY,
        bom_ref=f"pkg-{n}",
        purl=PackageURL.from_string(found.purl),
        properties=[
            Property(name="dockyard:ecosystem", value=found.ecosystem),
            Property(name="dockyard:path", value="/" + found.path),
            Property(name="dockyard:layer", value=found.layer),
        ],
    )


def cyclonedx_document(repository: str, image: ImageInventory) -> bytes:
    """The CycloneDX 1.6 JSON document. Components and the image's dependencies are handed
    over at once: adding them one by one is quadratic in the library."""
    root = Component(
        name=repository,
        version=image.digest,
        type=ComponentType.CONTAINER,
        bom_ref="image",
        description=f"container image {image.platform}".strip(),
    )
    components = [_component(n, found) for n, found in enumerate(image.packages, start=1)]
    bom = Bom(components=components)
    bom.metadata.component = root
    bom.register_dependency(root, components)
    return JsonV1Dot6(bom).output_as_string().encode()
