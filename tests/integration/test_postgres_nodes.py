"""Two dockyard nodes sharing one PostgreSQL database (and one blob store).

Pushing the same tag from both at the same time never fails: every PUT is answered 201 and
the tag ends on the manifest whose PUT committed last, as both nodes agree.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from support import postgres
from support.oci import Image, make_image, push_blob
from support.server import RunningServer, serving

pytestmark = pytest.mark.skipif(not postgres.available(), reason="PostgreSQL not installed")
ROUNDS = 15


@pytest.fixture
def two_nodes(tmp_path: Path) -> Iterator[list[RunningServer]]:
    url = postgres.shared_server().create_database("nodes")
    env = {"REGISTRY_DOCKYARD_DATABASE": url, "REGISTRY_STORAGE_DELETE_ENABLED": "true"}
    with ExitStack() as stack:
        nodes = []
        for name in ("a", "b"):
            workdir = tmp_path / name
            workdir.mkdir()
            nodes.append(
                stack.enter_context(serving(workdir, data_dir=tmp_path / "shared", env=env))
            )
        yield nodes


def put_manifest(client: httpx.Client, image: Image, tag: str) -> int:
    response = client.put(
        f"/v2/race/app/manifests/{tag}",
        content=image.manifest,
        headers={"Content-Type": image.media_type},
    )
    return response.status_code


def test_same_tag_pushed_concurrently_from_two_nodes(two_nodes: list[RunningServer]) -> None:
    with ExitStack() as stack:
        clients = [stack.enter_context(node.client()) for node in two_nodes]
        images = [make_image(), make_image()]
        for client, image in zip(clients, images, strict=True):
            for blob in [image.config, *image.layers]:
                push_blob(client, "race/app", blob)

        with ThreadPoolExecutor(max_workers=2) as pool:
            for _ in range(ROUNDS):
                statuses = list(pool.map(put_manifest, clients, images, ["latest"] * 2))
                assert statuses == [201, 201]

        # Whichever committed last holds the tag, and both nodes say the same.
        seen = {c.get("/v2/race/app/manifests/latest").content for c in clients}
        assert len(seen) == 1 and seen <= {image.manifest for image in images}

        # One after the other: the later PUT wins, on both nodes.
        assert put_manifest(clients[0], images[0], "latest") == 201
        assert put_manifest(clients[1], images[1], "latest") == 201
        for client in clients:
            assert client.get("/v2/race/app/manifests/latest").content == images[1].manifest
            assert client.get("/v2/race/app/tags/list").json()["tags"] == ["latest"]
            for image in images:  # both manifests stay reachable by digest
                assert client.get(f"/v2/race/app/manifests/{image.digest}").status_code == 200
    for node in two_nodes:
        assert "unhandled error" not in node.log()
