"""Garbage collection running in a loop while clients push images that reuse its garbage."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx

from support.oci import OCI_MANIFEST, Image, assert_oci_error, make_image, push_image, sha256
from support.server import DOCKYARD, RunningServer, serving

ENV = {"REGISTRY_STORAGE_DELETE_ENABLED": "true"}
GRACE = "2s"


def _gc_loop(server: RunningServer, stop: threading.Event, runs: list[int]) -> None:
    while not stop.is_set():
        subprocess.run(
            [DOCKYARD, "gc", "--data-dir", str(server.data_dir), "--grace", GRACE],
            capture_output=True, timeout=120, check=True,
        )  # fmt: skip
        runs.append(1)


def _push_like_a_client(client: httpx.Client, repo: str, image: Image) -> int:
    """HEAD each blob, upload the missing ones, then PUT the manifest (as docker does).

    The pause after a successful HEAD stands for the time a client spends uploading its
    other layers: a sweep that ignored the HEAD would delete the layer in that window.
    """
    for blob in [image.config, *image.layers]:
        if client.head(f"/v2/{repo}/blobs/{sha256(blob)}").status_code == 200:
            time.sleep(0.4)
            continue
        mounted = client.post(f"/v2/{repo}/blobs/uploads/", params={"mount": sha256(blob)})
        if mounted.status_code == 201:
            continue
        response = client.put(
            mounted.headers["Location"], params={"digest": sha256(blob)}, content=blob
        )
        assert response.status_code == 201, response.text
    put = client.put(
        f"/v2/{repo}/manifests/v1", content=image.manifest, headers={"Content-Type": OCI_MANIFEST}
    )
    return put.status_code


def test_pushes_reusing_garbage_never_fail_while_gc_loops(tmp_path: Path) -> None:
    with serving(tmp_path, env=ENV) as server, server.client() as client:
        shared = [os.urandom(200_000) for _ in range(5)]
        seed = make_image(layer_data=shared)
        for index in range(20):  # linked into every client's repository, referenced by nothing
            push_image(client, f"load/c{index}", seed, tag="gone")
            assert client.delete(f"/v2/load/c{index}/manifests/{seed.digest}").status_code == 202
        time.sleep(2.5)  # the shared layers are now garbage, older than the grace period

        stop, runs = threading.Event(), []
        collector = threading.Thread(target=_gc_loop, args=(server, stop, runs))
        collector.start()
        statuses: dict[int, int] = {}
        pushed: list[tuple[str, Image]] = []

        def worker(index: int) -> None:
            with server.client() as own:
                for round_ in range(3):
                    image = make_image(
                        layer_data=[shared[(index + round_) % 5], os.urandom(20_000)]
                    )
                    statuses[index * 10 + round_] = _push_like_a_client(
                        own, f"load/c{index}", image
                    )
                    pushed.append((f"load/c{index}", image))
                    time.sleep(0.3)

        workers = [threading.Thread(target=worker, args=(i,)) for i in range(20)]
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join()
        stop.set()
        collector.join()
        assert runs, "gc must have run during the pushes"
        assert set(statuses.values()) == {201}, statuses

        assert len(pushed) == 60
        for repo, image in pushed:  # the 2 earlier pushes per client are untagged by now
            got = client.get(f"/v2/{repo}/manifests/{image.digest}")
            assert got.content == image.manifest, (repo, got.status_code)
            for blob in [image.config, *image.layers]:
                assert client.get(f"/v2/{repo}/blobs/{sha256(blob)}").content == blob


def _blob_files(server: RunningServer, blobs: list[bytes]) -> list[Path]:
    root = server.data_dir / "docker/registry/v2/blobs/sha256"
    return [root / sha256(b)[7:9] / sha256(b)[7:] / "data" for b in blobs]


def _kill_mid_sweep(server: RunningServer, files: list[Path]) -> int:
    """Start ``dockyard gc`` and SIGKILL it as soon as it has deleted some of ``files``;
    returns how many were still there, so the caller can tell the kill landed mid-sweep."""
    process = subprocess.Popen(
        [DOCKYARD, "gc", "--data-dir", str(server.data_dir), "--grace", GRACE],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while all(f.exists() for f in files) and time.monotonic() < deadline:
        time.sleep(0.002)
    process.send_signal(signal.SIGKILL)
    process.wait()
    return sum(f.exists() for f in files)


def test_sigkill_during_gc_then_restart_loses_nothing_referenced(tmp_path: Path) -> None:
    with serving(tmp_path, env=ENV) as server, server.client() as client:
        kept = make_image(layers=3, size=50_000)
        push_image(client, "crash/kept", kept, tag="v1")
        junk: list[bytes] = []
        for index in range(60):
            garbage = make_image(layers=2, size=20_000)
            push_image(client, f"crash/junk{index}", garbage, tag="x")
            client.delete(f"/v2/crash/junk{index}/manifests/{garbage.digest}")
            junk += [garbage.config, *garbage.layers]
        time.sleep(2.1)
        files = _blob_files(server, junk)
        left = _kill_mid_sweep(server, files)
        assert 0 < left < len(files), f"the kill must land mid-sweep ({left} of {len(files)})"
        finish = subprocess.run(
            [DOCKYARD, "gc", "--data-dir", str(server.data_dir), "--grace", GRACE],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert finish.returncode == 0, finish.stderr
        leftover = subprocess.run(
            [DOCKYARD, "gc", "--dry-run", "--data-dir", str(server.data_dir), "--grace", GRACE],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert "and 0 blobs" in leftover.stdout, leftover.stdout
        assert not any(f.exists() for f in files), "the next run finishes the killed one"
        assert client.get("/v2/crash/kept/manifests/v1").content == kept.manifest
        for blob in [kept.config, *kept.layers]:
            assert client.get(f"/v2/crash/kept/blobs/{sha256(blob)}").content == blob
        assert_oci_error(client.get("/v2/crash/junk0/manifests/x"), 404, "MANIFEST_UNKNOWN")


def test_pushes_beside_a_grace_zero_gc_loop_never_get_a_500(tmp_path: Path) -> None:
    """``dockyard gc --grace 0s`` in a loop while clients keep pushing the same few blobs (so
    sweeps keep deleting what pushes publish again): a closing PUT is 201 or, at worst, a
    retryable 503, never a 500; and any blob still recorded afterwards has all its bytes."""
    contents = [os.urandom(300_000) for _ in range(4)]
    with serving(tmp_path, env=ENV) as server, server.client() as client:
        stop, runs = threading.Event(), []

        def collect() -> None:
            while not stop.is_set() and len(runs) < 8:
                command = [DOCKYARD, "gc", "--data-dir", str(server.data_dir), "--grace", "0s"]
                subprocess.run(command, capture_output=True, timeout=120, check=True)
                runs.append(1)

        collector = threading.Thread(target=collect)
        collector.start()
        statuses: list[int] = []

        def worker(index: int) -> None:
            with server.client() as own:
                while collector.is_alive():
                    for data in contents:
                        started = own.post(f"/v2/race/w{index}/blobs/uploads/")
                        put = own.put(started.headers["location"],
                                      params={"digest": sha256(data)}, content=data)  # fmt: skip
                        statuses.append(put.status_code)

        workers = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
        for thread in workers:
            thread.start()
        collector.join(timeout=600)
        stop.set()
        for thread in workers:
            thread.join(timeout=120)
        assert len(runs) == 8 and statuses
        assert set(statuses) <= {201, 503}, sorted(set(statuses))
        for index in range(6):
            for data in contents:
                got = client.get(f"/v2/race/w{index}/blobs/{sha256(data)}")
                assert got.status_code == 404 or got.content == data
