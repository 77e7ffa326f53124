"""Three stateless dockyard nodes behind nginx, on PostgreSQL, S3 (SeaweedFS) and Redis.

The stack is examples/cluster/ as its README builds it (``support.cluster``): a real client
pushes and pulls through nginx, and one upload is carried by three different nodes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx

from e2e.clientkit import Clients, OciLayout, read_layout
from e2e.clientkit import make_image as make_layout_image
from support.cluster import Cluster, Node, assert_no_internal_errors
from support.oci import make_image, push_image, sha256
from support.server import stop_server


def _layout(tmp_path: Path, name: str, size: int) -> Path:
    directory = tmp_path / name
    image = make_layout_image([{f"{name}.bin": os.urandom(size)}, {"common.txt": b"shared"}])
    OciLayout(directory).add_image(image, "v1")
    return directory


def test_skopeo_push_and_pull_through_nginx(tmp_path: Path, cluster: Cluster) -> None:
    marks = cluster.log_marks()
    clients = Clients(tmp_path / "clients")
    source = _layout(tmp_path, "app", 3 * 1024 * 1024 + 5)
    target = f"docker://{cluster.host}/team/app:v1"
    flags = ["--dest-tls-verify=false"]
    clients.skopeo("copy", *flags, f"oci:{source}:v1", target)
    out = tmp_path / "out"
    clients.skopeo("copy", "--src-tls-verify=false", target, f"oci:{out}:v1")
    original_manifest, original_blobs = read_layout(source, "v1")
    copied_manifest, copied_blobs = read_layout(out, "v1")
    assert copied_manifest == original_manifest
    assert copied_blobs == original_blobs
    served = [log for log in (n.log()[m:] for n, m in zip(cluster.nodes, marks, strict=True))
              if '"route":"upload' in log.replace(" ", "")]  # fmt: skip
    assert len(served) >= 2, "nginx spreads the requests over the nodes"
    assert_no_internal_errors(cluster.logs_since(marks))


def test_upload_split_across_three_nodes(cluster: Cluster) -> None:
    """PATCH on node A, PATCH on node B, PUT on node C; every node then serves the blob."""
    data = os.urandom(3 * 1024 * 1024 + 11)
    first, second = 1_000_000, 2_000_000
    with (
        cluster.nodes[0].client() as a,
        cluster.nodes[1].client() as b,
        cluster.nodes[2].client() as c,
    ):
        started = a.post("/v2/split/blob/blobs/uploads/")
        assert started.status_code == 202, started.text
        path = started.headers["Location"]
        one = a.patch(path, content=data[:first], headers={"Content-Range": f"0-{first - 1}"})
        assert one.status_code == 202 and one.headers["Range"] == f"0-{first - 1}"
        two = b.patch(
            path,
            content=data[first:second],
            headers={"Content-Range": f"{first}-{second - 1}"},
        )
        assert two.status_code == 202, two.text
        assert two.headers["Range"] == f"0-{second - 1}"
        status = c.get(path)
        assert status.status_code == 204 and status.headers["Range"] == f"0-{second - 1}"
        done = c.put(path, params={"digest": sha256(data)}, content=data[second:])
        assert done.status_code == 201, done.text
        for node in (a, b, c):
            assert node.get(f"/v2/split/blob/blobs/{sha256(data)}").content == data
        # and a manifest pushed on one node is immediately served by the others
        image = make_image()
        push_image(c, "split/blob", image, tag="v1")
        for node in (a, b):
            assert node.get("/v2/split/blob/manifests/v1").content == image.manifest
            tags = json.loads(node.get("/v2/split/blob/tags/list").content)["tags"]
            assert tags == ["v1"]


def test_a_new_node_with_several_workers_joins_and_serves(cluster: Cluster) -> None:
    """Nodes need nothing from each other: one more starts against the running cluster and
    serves what the others stored at once, with two workers sharing its metrics port."""
    image = make_image()
    with cluster.client() as client:
        push_image(client, "joined/app", image, tag="v1")
    node = Node(len(cluster.nodes), cluster.root / "node-extra")
    cluster.start_node(node, {"REGISTRY_DOCKYARD_WORKERS": "2"})
    try:
        with node.client() as client:
            got = client.get("/v2/joined/app/manifests/v1")
            assert got.status_code == 200 and got.content == image.manifest
            layer = image.layers[0]
            assert client.get(f"/v2/joined/app/blobs/{sha256(layer)}").content == layer
        metrics = httpx.get(f"http://127.0.0.1:{node.debug_port}/metrics", timeout=10)
        assert "registry_http_requests_total" in metrics.text
    finally:
        assert node.server is not None
        stop_server(node.server)
    assert node.log().count("no metrics from this worker") == 1, "both workers started"
    assert_no_internal_errors(node.log())
