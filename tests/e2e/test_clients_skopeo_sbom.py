"""skopeo copies an image and, through the referrers tag schema, its SBOM referrers: the
fallback tag (an index of the referrers) is copied with ``--all``, and the destination's
referrers API then lists both SBOMs with the same documents."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from e2e.clientkit import Clients, host_of
from support.identity import cli
from support.layers import dist_info, dpkg_status, tar_layer
from support.oci import make_image, push_image
from support.server import RunningServer

pytestmark = pytest.mark.clients
NO_TLS_SRC, NO_TLS_DEST = "--src-tls-verify=false", "--dest-tls-verify=false"
TYPES = {"application/spdx+json", "application/vnd.cyclonedx+json"}


def referrers(client: httpx.Client, repo: str, digest: str) -> dict[str, str]:
    response = client.get(f"/v2/{repo}/referrers/{digest}")
    assert response.status_code == 200, response.text
    return {m["artifactType"]: m["digest"] for m in response.json()["manifests"]}


def test_skopeo_copies_an_image_with_its_sbom_referrers(
    clients: Clients, plain_registry: RunningServer, tmp_path: Path
) -> None:
    layer = tar_layer({
        "var/lib/dpkg/status": dpkg_status([("libc6", "2.36-9")]),
        "opt/app/attrs-23.1.0.dist-info/METADATA": dist_info("attrs", "23.1.0"),
    })  # fmt: skip
    image = make_image(layer_data=[layer])
    with plain_registry.client() as registry:
        push_image(registry, "sbom/src", image, tag="v1")
    env = {"REGISTRY_STORAGE_DELETE_ENABLED": "true"}
    cli(plain_registry.data_dir, env, "sbom", "generate", "sbom/src:v1")
    host = host_of(plain_registry)
    fallback = image.digest.replace(":", "-")
    for ref, extra in (("v1", []), (fallback, ["--all"])):
        done = clients.skopeo(
            "copy", *extra, NO_TLS_SRC, NO_TLS_DEST,
            f"docker://{host}/sbom/src:{ref}", f"docker://{host}/sbom/dst:{ref}",
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    with plain_registry.client() as registry:
        source = referrers(registry, "sbom/src", image.digest)
        copied = referrers(registry, "sbom/dst", image.digest)
    assert set(copied) == TYPES
    assert copied == source  # the same manifests, digest for digest
