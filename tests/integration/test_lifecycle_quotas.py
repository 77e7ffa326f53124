"""Project quotas against a real server: refused before and during uploads, warned near the
limit, reported by the CLI and the metrics."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from e2e.clientkit import Clients, OciLayout
from e2e.clientkit import make_image as make_layout_image
from support.oci import assert_oci_error, make_image, push_blob, push_image, sha256
from support.server import DOCKYARD, RunningServer, free_port, serving

KB = 1000
CONFIG = """
version: 0.1
dockyard:
  quotas:
    default: 200KB
    projects:
      big: unlimited
    warn: 50
"""


def _cli(server: RunningServer, *args: str) -> str:
    config = ["--config", str(server.data_dir.parent / "config.yml")]
    command = [DOCKYARD, "quota", *args, *config, "--data-dir", str(server.data_dir)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=True).stdout


def _uploads_on_disk(server: RunningServer) -> list[str]:
    uploads = server.data_dir / "dockyard/uploads"
    return sorted(os.listdir(uploads)) if uploads.exists() else []


def test_quota_exceeded_in_the_middle_of_a_chunked_upload(tmp_path: Path) -> None:
    debug = free_port()
    env = {"REGISTRY_HTTP_DEBUG_ADDR": f"127.0.0.1:{debug}"}
    with serving(tmp_path, config=CONFIG, env=env) as server, server.client() as client:
        image = make_image(layers=1, size=110 * KB)
        pushed = push_image(client, "small/app", image, tag="v1")
        assert pushed.headers["warning"].startswith('299 - "project small has used 55%')

        start = client.post("/v2/small/app/blobs/uploads/")
        assert start.status_code == 202 and "warning" in start.headers
        location = start.headers["location"]
        first = client.patch(location, content=os.urandom(40 * KB))
        assert first.status_code == 202, first.text
        second = client.patch(first.headers["location"], content=os.urandom(40 * KB),
                              headers={"Content-Range": f"{40 * KB}-{80 * KB - 1}"})  # fmt: skip
        assert second.status_code == 202, second.text
        third = client.patch(second.headers["location"], content=os.urandom(40 * KB))
        error = assert_oci_error(third, 403, "DENIED")
        assert 'quota of project "small" exceeded' in error["message"], error
        assert "the upload was cancelled" in error["message"]
        assert_oci_error(client.get(location), 404, "BLOB_UPLOAD_UNKNOWN")
        assert _uploads_on_disk(server) == [], "the partial upload is gone"

        streamed = client.post("/v2/small/app/blobs/uploads/").headers["location"]
        cut = client.patch(streamed, content=_chunks(20, 10 * KB))  # no Content-Length
        assert_oci_error(cut, 403, "DENIED")
        assert _uploads_on_disk(server) == []

        data = os.urandom(150 * KB)
        whole = client.post("/v2/small/app/blobs/uploads/", params={"digest": sha256(data)},
                            content=data)  # fmt: skip
        assert_oci_error(whole, 403, "DENIED")
        assert client.head(f"/v2/small/app/blobs/{sha256(data)}").status_code == 404
        push_blob(client, "big/app", data)  # unlimited there
        mounted = client.post("/v2/small/app/blobs/uploads/",
                              params={"mount": sha256(data), "from": "big/app"})  # fmt: skip
        assert mounted.status_code == 202, "no room: no mount, the client would upload instead"
        layer = sha256(image.layers[0])
        shared = client.post("/v2/small/other/blobs/uploads/",
                             params={"mount": layer, "from": "small/app"})  # fmt: skip
        assert shared.status_code == 201, "a layer the project already stores is free"

        rows = [json.loads(line) for line in _cli(server, "list", "--json").splitlines()]
        small = next(r for r in rows if r["project"] == "small")
        assert small["limit_bytes"] == 200 * KB and small["blobs"] == 2
        assert 110 * KB < small["used_bytes"] < 120 * KB
        table = _cli(server, "list", "small")
        assert re.search(r"^small\t.*\t195.3 KiB\t5\d%", table, re.MULTILINE), table
        metrics = httpx.get(f"http://127.0.0.1:{debug}/metrics").text
        assert 'registry_quota_limit_bytes{project="small"} 200000.0' in metrics
        assert 'registry_quota_denied_total{project="small"}' in metrics
        used = re.search(r'^registry_quota_used_bytes\{project="small"\} (\S+)$', metrics, re.M)
        assert used and 110 * KB < float(used.group(1)) < 120 * KB, metrics

        _cli(server, "set", "small", "100KB")  # below what it uses: no session may start
        start_refused = _eventually_refused(client)
        assert 'quota of project "small" exceeded' in start_refused["message"], start_refused
        _cli(server, "set", "small", "unlimited")
        _cli(server, "list", "small")  # and the server sees it within seconds:
        assert _eventually_accepted(client, data)


def _chunks(count: int, size: int) -> Iterator[bytes]:
    for _ in range(count):
        yield os.urandom(size)


def _eventually_refused(client: httpx.Client) -> dict[str, object]:
    for _ in range(40):
        response = client.post("/v2/small/app/blobs/uploads/")
        if response.status_code != 202:
            return assert_oci_error(response, 403, "DENIED")
        client.delete(response.headers["location"])
        time.sleep(0.25)
    raise AssertionError("a session could still start in a full project")


def _eventually_accepted(client: httpx.Client, data: bytes) -> bool:
    for _ in range(40):
        response = client.post("/v2/small/app/blobs/uploads/", params={"digest": sha256(data)},
                               content=data)  # fmt: skip
        if response.status_code == 201:
            return True
        time.sleep(0.25)
    return False


def test_skopeo_push_over_quota_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    layout = OciLayout(tmp_path / "layout")
    image = make_layout_image([{"big.bin": os.urandom(300 * KB)}])
    layout.add_image(image, "big")
    clients = Clients(tmp_path / "clients")
    with serving(tmp_path, config=CONFIG) as server:
        target = f"docker://127.0.0.1:{server.port}/small/app:v1"
        result = clients.skopeo("copy", "--dest-tls-verify=false", f"oci:{layout.path}:big",
                                target, check=False)  # fmt: skip
        assert result.returncode != 0
        assert "denied" in result.stderr and "quota of project" in result.stderr, result.stderr
        assert _uploads_on_disk(server) == []


def test_a_new_manifest_counts_and_one_the_repository_has_is_free(tmp_path: Path) -> None:
    with serving(tmp_path, config=CONFIG) as server, server.client() as client:
        image = make_image(layers=1, size=100 * KB)
        push_image(client, "full/app", image, tag="v1")
        used = json.loads(_cli(server, "list", "--json", "full"))["used_bytes"]
        push_blob(client, "full/app", os.urandom(200 * KB - used))  # now exactly full

        changed = json.loads(image.manifest) | {"annotations": {"rebuilt": "yes"}}
        refused = client.put("/v2/full/app/manifests/v2", content=json.dumps(changed).encode(),
                             headers={"Content-Type": image.media_type})  # fmt: skip
        error = assert_oci_error(refused, 403, "DENIED")
        assert 'quota of project "full" exceeded' in error["message"], error
        assert client.head("/v2/full/app/manifests/v2").status_code == 404

        retag = client.put("/v2/full/app/manifests/again", content=image.manifest,
                           headers={"Content-Type": image.media_type})  # fmt: skip
        assert retag.status_code == 201, "a manifest the repository has costs nothing"
