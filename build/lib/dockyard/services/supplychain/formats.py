"""The SBOM formats and their media types (the referrers' ``artifactType``). The renderers
load their libraries (spdx-tools, cyclonedx-python-lib: seconds of imports) on first use, not
when the registry is built, so commands and server start-up do not pay for them."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dockyard.services.supplychain.inventory import ImageInventory

SPDX_JSON = "application/spdx+json"
CYCLONEDX_JSON = "application/vnd.cyclonedx+json"
MEDIA_TYPES = {"spdx": SPDX_JSON, "cyclonedx": CYCLONEDX_JSON}

Renderer = Callable[[str, "ImageInventory"], bytes]


def renderer(name: str) -> Renderer:
    """The function that writes an image's SBOM in format ``name``."""
    if name == "spdx":
        from dockyard.services.supplychain.sbom_spdx import spdx_document  # noqa: PLC0415 - 1 s

        return spdx_document
    from dockyard.services.supplychain.sbom_cyclonedx import cyclonedx_document  # noqa: PLC0415

    return cyclonedx_document
