"""``dockyard sbom generate REPO:TAG|REPO@DIGEST [--format spdx|cyclonedx]``: index the
image's layers, make the SBOM(s) and attach them as referrers; one JSON line per SBOM.

Runs as the operator (a system administrator), like the other administration commands.
"""

from __future__ import annotations

import argparse

import msgspec

from dockyard.cli.common import add_config_arguments, fail, load, operator, with_registry
from dockyard.services.registry import Registry
from dockyard.services.supplychain.sboms import FORMATS, AttachedSbom


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("sbom", help="software bills of materials of images")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    generate = actions.add_parser(
        "generate", help="make SBOMs of an image and attach them as OCI referrers"
    )
    add_config_arguments(generate)
    generate.add_argument("image", metavar="REPO:TAG|REPO@DIGEST")
    generate.add_argument(
        "--format", choices=sorted(FORMATS), action="append", dest="formats",
        help="spdx or cyclonedx (repeat for both; default: both)",
    )  # fmt: skip
    generate.set_defaults(handler=run_generate)


def split_image(image: str) -> tuple[str, str] | None:
    """(repository, tag or digest) of ``REPO:TAG`` or ``REPO@DIGEST``; None if neither."""
    if "@" in image:
        repository, _, digest = image.partition("@")
        return (repository, digest) if repository and digest else None
    repository, colon, tag = image.rpartition(":")
    if not colon or not repository or "/" in tag:
        return None
    return repository, tag


def run_generate(args: argparse.Namespace) -> int:
    target = split_image(args.image)
    if target is None:
        return fail("error: name the image as REPO:TAG or REPO@DIGEST")
    settings = load(args)
    if settings is None:
        return 1
    formats = args.formats or sorted(FORMATS)

    async def work(registry: Registry) -> list[AttachedSbom]:
        assert registry.supply_chain is not None  # always built (bootstrap)
        return await registry.supply_chain.generate(operator(), *target, formats)

    for attached in with_registry(settings, work):
        print(msgspec.json.encode(attached).decode())
    return 0
