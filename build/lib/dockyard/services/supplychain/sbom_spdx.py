"""SPDX 2.3 JSON for one image inventory, built and validated with spdx-tools."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime

from spdx_tools.spdx.model.actor import Actor, ActorType
from spdx_tools.spdx.model.document import CreationInfo, Document
from spdx_tools.spdx.model.package import ExternalPackageRef, ExternalPackageRefCategory
from spdx_tools.spdx.model.package import Package as SpdxPackage
from spdx_tools.spdx.model.relationship import Relationship, RelationshipType
from spdx_tools.spdx.model.spdx_no_assertion import SpdxNoAssertion
from spdx_tools.spdx.writer.json.json_writer import write_document_to_stream

from dockyard import __version__
from dockyard.core.supplychain.model import Package
from dockyard.services.supplychain.inventory import ImageInventory

NAMESPACE = "https://dockyard.invalid/spdx"  # a document namespace, not a place to fetch


def _purl_ref(purl: str) -> ExternalPackageRef:
    return ExternalPackageRef(ExternalPackageRefCategory.PACKAGE_MANAGER, "purl", purl)


def _package(n: int, found: Package) -> SpdxPackage:
    return SpdxPackage(
        spdx_id=f"SPDXRef-Package-{n}",
        name=found.name,
        download_location=SpdxNoAssertion(),
        version=found.version,
        files_analyzed=False,
        source_info=f"{found.ecosystem} metadata at /{found.path} in layer {found.layer}",
        external_references=[_purl_ref(found.purl)],
    )


def _image_package(repository: str, image: ImageInventory) -> SpdxPackage:
    return SpdxPackage(
        spdx_id="SPDXRef-Image",
        name=repository,
        download_location=SpdxNoAssertion(),
        version=image.digest,
        files_analyzed=False,
        summary=f"container image {repository}@{image.digest} {image.platform}".strip(),
    )


def spdx_document(repository: str, image: ImageInventory) -> bytes:
    """The SPDX 2.3 JSON document. Not validated here: spdx-tools' validator is quadratic in
    the number of packages (minutes for a few thousand); the tests validate the documents
    this builds with it."""
    creation = CreationInfo(
        spdx_version="SPDX-2.3",
        spdx_id="SPDXRef-DOCUMENT",
        name=f"{repository}@{image.digest}",
        document_namespace=f"{NAMESPACE}/{repository}/{image.digest}/{uuid.uuid4()}",
        creators=[Actor(ActorType.TOOL, f"dockyard-{__version__}")],
        created=datetime.now(UTC).replace(microsecond=0, tzinfo=None),
    )
    packages = [_image_package(repository, image)]
    relations = [Relationship("SPDXRef-DOCUMENT", RelationshipType.DESCRIBES, "SPDXRef-Image")]
    for n, found in enumerate(image.packages, start=1):
        packages.append(_package(n, found))
        relations.append(
            Relationship("SPDXRef-Image", RelationshipType.CONTAINS, f"SPDXRef-Package-{n}")
        )
    document = Document(creation, packages=packages, relationships=relations)
    out = io.StringIO()
    write_document_to_stream(document, out, validate=False, drop_duplicates=False)
    return out.getvalue().encode()
