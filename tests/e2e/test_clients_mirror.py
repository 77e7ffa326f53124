"""skopeo pulling through the pull-through cache: the same bytes and digests as the upstream
(Debian's docker-registry) holds, for an image and for a multi-arch index."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e.clientkit import Clients, OciLayout, make_image, read_layout, sha256
from support.mirror import LoggedRegistry, logged_registry, mirror_config
from support.server import RunningServer, serving

pytestmark = pytest.mark.clients

NO_TLS_SRC, NO_TLS_DEST = "--src-tls-verify=false", "--dest-tls-verify=false"


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LoggedRegistry, RunningServer]]:
    work = tmp_path_factory.mktemp("mirror-stack")
    with logged_registry(work / "upstream-root", work) as upstream:
        (work / "mirror").mkdir()
        with serving(work / "mirror", config=mirror_config(upstream.url)) as mirror:
            yield upstream, mirror


def _host(url: str) -> str:
    return url.removeprefix("http://")


def test_skopeo_pulls_an_image_byte_identical(
    clients: Clients, stack: tuple[LoggedRegistry, RunningServer], tmp_path: Path
) -> None:
    upstream, mirror = stack
    image = make_image([{"etc/motd": b"through the mirror\n"}, {"big.bin": os.urandom(2 << 20)}])
    layout = OciLayout(tmp_path / "src")
    layout.add_image(image, "v1")
    dest = f"docker://{_host(upstream.url)}/library/hello:v1"
    clients.skopeo("copy", NO_TLS_DEST, f"oci:{layout.path}:v1", dest)
    source = f"docker://{_host(mirror.url)}/library/hello:v1"
    for attempt in ("cold", "warm"):
        out = tmp_path / attempt
        clients.skopeo("copy", NO_TLS_SRC, source, f"oci:{out}:v1")
        manifest, blobs = read_layout(out, "v1")
        assert manifest == image.manifest, attempt
        for blob in image.blobs:
            assert blobs[sha256(blob)] == blob, attempt
    raw = clients.skopeo("inspect", "--raw", "--tls-verify=false", source).stdout.encode()
    assert raw in (image.manifest, image.manifest + b"\n")
    for blob in image.blobs:
        assert upstream.requests("GET", f"/v2/library/hello/blobs/{sha256(blob)}") == 1


def test_skopeo_copies_a_multi_arch_index_with_the_same_digests(
    clients: Clients, stack: tuple[LoggedRegistry, RunningServer], tmp_path: Path
) -> None:
    upstream, mirror = stack
    images = [make_image([{"arch": arch.encode()}], arch=arch) for arch in ("amd64", "arm64")]
    layout = OciLayout(tmp_path / "src")
    index = layout.add_index(images, "multi")
    dest = f"docker://{_host(upstream.url)}/team/multi:v1"
    clients.skopeo("copy", "--all", NO_TLS_DEST, f"oci:{layout.path}:multi", dest)
    out = tmp_path / "out"
    source = f"docker://{_host(mirror.url)}/team/multi:v1"
    clients.skopeo("copy", "--all", NO_TLS_SRC, source, f"oci:{out}:v1")
    top, blobs = read_layout(out, "v1")
    assert top == index and sha256(top) == sha256(index)
    for image in images:
        assert blobs[image.digest] == image.manifest
        for blob in image.blobs:
            assert blobs[sha256(blob)] == blob
