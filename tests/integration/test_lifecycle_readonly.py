"""Read-only maintenance mode switched while serving: every worker follows within seconds."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from support.oci import assert_oci_error, make_image, push_image, sha256
from support.server import DOCKYARD, RunningServer, serving


def _switch(server: RunningServer, *args: str) -> str:
    command = [DOCKYARD, "maintenance", "readonly", *args, "--data-dir", str(server.data_dir)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=True).stdout


def _until(condition: object, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not (callable(condition) and condition()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_read_only_switched_without_restart(tmp_path: Path) -> None:
    env = {
        "REGISTRY_STORAGE_DELETE_ENABLED": "true",
        "REGISTRY_DOCKYARD_WORKERS": "2",
        "REGISTRY_DOCKYARD_GC_INTERVAL": "1s",
    }
    with serving(tmp_path, env=env) as server, server.client() as client:
        image = make_image(layers=1)
        push_image(client, "maint/app", image, tag="v1")
        assert _switch(server, "on", "--reason", "backup until 03:00") == (
            "read-only: on (backup until 03:00)\n"
        )

        def refused() -> bool:  # every worker: several requests in a row
            codes = {client.post("/v2/maint/app/blobs/uploads/").status_code for _ in range(6)}
            return codes == {405}

        _until(refused)
        error = assert_oci_error(client.post("/v2/maint/app/blobs/uploads/"), 405, "UNSUPPORTED")
        assert "read-only mode for maintenance: backup until 03:00" in error["message"]
        assert_oci_error(client.delete("/v2/maint/app/manifests/v1"), 405, "UNSUPPORTED")
        assert client.get("/v2/maint/app/manifests/v1").content == image.manifest
        blob = image.layers[0]
        assert client.get(f"/v2/maint/app/blobs/{sha256(blob)}").content == blob
        runs = server.log().count("gc: started")
        time.sleep(2.5)
        assert server.log().count("gc: started") == runs, "scheduled jobs pause"
        assert _switch(server, "status") == "read-only: on (backup until 03:00)\n"

        assert _switch(server, "off") == "read-only: off\n"
        _until(lambda: client.post("/v2/maint/app/blobs/uploads/").status_code == 202)
        push_image(client, "maint/app", make_image(layers=1), tag="v2")
