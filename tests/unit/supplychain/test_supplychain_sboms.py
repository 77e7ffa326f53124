"""SPDX and CycloneDX documents for inventories of every ecosystem, checked by the formats'
own libraries: spdx-tools parses and validates, the CycloneDX 1.6 JSON schema validates."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from spdx_tools.spdx.parser.json.json_parser import parse_from_file
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

from dockyard.core.supplychain.model import Package
from dockyard.core.supplychain.purls import package
from dockyard.services.supplychain.inventory import ImageInventory
from dockyard.services.supplychain.sbom_cyclonedx import cyclonedx_document
from dockyard.services.supplychain.sbom_spdx import spdx_document

LAYER = "sha256:" + "c" * 64
PACKAGES = (
    package("deb", "libc6", "2.36-9+deb12u4", "var/lib/dpkg/status", distro="debian", arch="amd64"),
    package("apk", "musl", "1.2.4-r2", "lib/apk/db/installed", distro="alpine", arch="x86_64"),
    package("rpm", "openssl", "1:3.0.7-27.el9", "var/lib/rpm/rpmdb.sqlite", distro="redhat"),
    package("pypi", "zope-interface", "6.0", "x/zope.interface-6.0.dist-info/METADATA"),
    package("npm", "@babel/core", "7.23.0", "app/node_modules/@babel/core/package.json"),
    package("golang", "golang.org/x/net", "v0.17.0", "usr/local/bin/app"),
)


def image(packages: tuple[Package, ...]) -> ImageInventory:
    tagged = tuple(msgspec.structs.replace(p, layer=LAYER) for p in packages)
    return ImageInventory("sha256:" + "d" * 64, "application/vnd.oci.image.manifest.v1+json",
                          512, "linux/arm64/v8", tagged, ())  # fmt: skip


@pytest.mark.parametrize("packages", [PACKAGES, ()], ids=["every-ecosystem", "empty"])
def test_spdx_parses_and_validates(packages: tuple[Package, ...], tmp_path: Path) -> None:
    path = tmp_path / "sbom.spdx.json"
    path.write_bytes(spdx_document("team/app", image(packages)))
    parsed = parse_from_file(str(path))
    assert validate_full_spdx_document(parsed) == []
    purls = {ref.locator for p in parsed.packages for ref in p.external_references}
    assert purls == {p.purl for p in PACKAGES} if packages else purls == set()
    assert parsed.creation_info.spdx_version == "SPDX-2.3"


@pytest.mark.parametrize("packages", [PACKAGES, ()], ids=["every-ecosystem", "empty"])
def test_cyclonedx_validates_against_the_schema(packages: tuple[Package, ...]) -> None:
    document = cyclonedx_document("team/app", image(packages)).decode()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(document) is None
    body = json.loads(document)
    assert body["specVersion"] == "1.6"
    assert body["metadata"]["component"]["type"] == "container"
    assert {c["purl"] for c in body.get("components", [])} == {p.purl for p in packages}
