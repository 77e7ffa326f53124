"""Endpoints: an image's package inventory, SBOMs generated and attached on demand, and a
project's "SBOM on push" switch. Authorization is decided in the service (pull to read an
inventory, push to attach SBOMs, project:read / project:configure for the switch)."""

from __future__ import annotations

import msgspec

from dockyard.api.mgmt.router import Call, Endpoint, Reply
from dockyard.api.mgmt.schemas import Body
from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.services.supplychain.inventory import ImageInventory
from dockyard.services.supplychain.sboms import FORMATS, AttachedSbom, SupplyChainService


class PackageView(msgspec.Struct):
    ecosystem: str
    name: str
    version: str
    purl: str
    path: str
    layer: str


class LayerView(msgspec.Struct):
    digest: str
    outcome: str
    detail: str


class ImageView(msgspec.Struct):
    digest: str
    platform: str
    packages: list[PackageView]
    layers: list[LayerView]

    @classmethod
    def of(cls, image: ImageInventory) -> ImageView:
        packages = [
            PackageView(p.ecosystem, p.name, p.version, p.purl, "/" + p.path, p.layer)
            for p in image.packages
        ]
        layers = [LayerView(s.digest, s.outcome, s.detail) for s in image.layers]
        return cls(image.digest, image.platform, packages, layers)


class Inventory(msgspec.Struct):
    repository: str
    reference: str
    images: list[ImageView]


class SbomRequest(Body):
    repository: str
    reference: str
    formats: list[str] = msgspec.field(default_factory=lambda: list(FORMATS))


class SbomView(msgspec.Struct):
    subject: str
    platform: str
    format: str
    artifactType: str  # noqa: N815 - the wire name
    digest: str
    documentDigest: str  # noqa: N815 - the wire name
    packages: int

    @classmethod
    def of(cls, sbom: AttachedSbom) -> SbomView:
        return cls(
            sbom.subject,
            sbom.platform,
            sbom.format,
            sbom.artifact_type,
            sbom.digest,
            sbom.document_digest,
            sbom.packages,
        )


class Sboms(msgspec.Struct):
    items: list[SbomView]


class SupplyChainSettings(Body):
    sbomOnPush: bool  # noqa: N815 - the wire name


class Handlers:
    def __init__(self, service: SupplyChainService) -> None:
        self.service = service

    async def inventory(self, call: Call) -> Reply:
        repository, reference = call.query("repository"), call.query("reference")
        if not repository or not reference:
            raise RegistryError(ErrorCode.BAD_REQUEST, "repository and reference are required")
        images = await self.service.inventory(call.principal, repository, reference)
        return Reply(200, Inventory(repository, reference, [ImageView.of(i) for i in images]))

    async def generate(self, call: Call) -> Reply:
        wanted = call.body(SbomRequest)
        attached = await self.service.generate(
            call.principal, wanted.repository, wanted.reference, wanted.formats
        )
        return Reply(201, Sboms([SbomView.of(s) for s in attached]))

    async def settings(self, call: Call) -> Reply:
        enabled = await self.service.sbom_on_push(call.principal, call.params["project"])
        return Reply(200, SupplyChainSettings(enabled))

    async def set_settings(self, call: Call) -> Reply:
        wanted = call.body(SupplyChainSettings).sbomOnPush
        project = call.params["project"]
        enabled = await self.service.set_sbom_on_push(call.principal, project, wanted)
        return Reply(200, SupplyChainSettings(enabled))

    def endpoints(self) -> list[Endpoint]:
        tag, settings = "supply-chain", "/projects/{project}/supply-chain"
        image = (
            ("repository", "string", "repository name"),
            ("reference", "string", "tag or digest"),
        )
        return [
            Endpoint(
                "GET",
                "/supply-chain/inventory",
                self.inventory,
                "The packages an image installs, per platform (pull access)",
                tag,
                response=Inventory,
                query=image,
                public=True,
            ),
            Endpoint(
                "POST",
                "/supply-chain/sboms",
                self.generate,
                "Generate SBOMs (spdx, cyclonedx) and attach them as referrers (push access)",
                tag,
                request=SbomRequest,
                response=Sboms,
                status=201,
            ),
            Endpoint(
                "GET",
                settings,
                self.settings,
                "A project's supply-chain settings (project:read)",
                tag,
                response=SupplyChainSettings,
            ),
            Endpoint(
                "PUT",
                settings,
                self.set_settings,
                "Turn a project's SBOM on push on or off (project:configure)",
                tag,
                request=SupplyChainSettings,
                response=SupplyChainSettings,
            ),
        ]


def endpoints(service: SupplyChainService | None) -> list[Endpoint]:
    return Handlers(service).endpoints() if service is not None else []
