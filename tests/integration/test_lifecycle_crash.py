"""SIGKILL a real server in the middle of concurrent tag moves and pushes, restart it, and find
nothing referenced missing: every tag resolves to a manifest whose blobs all exist, are
readable and hash to their digests, and ``dockyard fsck --rehash all`` reports no problem."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx

from support.cluster import process_tree
from support.oci import Image, make_image, push_image, sha256
from support.server import DOCKYARD, RunningServer, serving, start_server, stop_server

REPOSITORIES = ("crash/a", "crash/b")
TAGS = tuple(f"t{n}" for n in range(6))
WORKERS = 6


def _upload(client: httpx.Client, repository: str, data: bytes) -> None:
    """A chunked upload: POST, two PATCHes, PUT (so sessions are open when the kill lands)."""
    started = client.post(f"/v2/{repository}/blobs/uploads/")
    _expect(started, 202)
    location, half = started.headers["location"], len(data) // 2
    for chunk, first in ((data[:half], 0), (data[half:], half)):
        end = first + len(chunk) - 1
        headers = {"Content-Range": f"{first}-{end}", "Content-Type": "application/octet-stream"}
        patched = client.patch(location, content=chunk, headers=headers)
        _expect(patched, 202)
        location = patched.headers["location"]
    _expect(client.put(location, params={"digest": sha256(data)}), 201)


def _put_manifest(client: httpx.Client, repository: str, tag: str, image: Image) -> None:
    response = client.put(
        f"/v2/{repository}/manifests/{tag}",
        content=image.manifest,
        headers={"Content-Type": image.media_type},
    )
    _expect(response, 201)


class UnexpectedAnswerError(AssertionError):
    pass


def _expect(response: httpx.Response, status: int) -> None:
    if response.status_code != status:
        raise UnexpectedAnswerError(f"{response.request.method} {response.request.url}: "
                                    f"{response.status_code} {response.text[:300]}")  # fmt: skip


class Churn:
    """Workers that push new images and move tags between images until the server dies."""

    def __init__(self, server: RunningServer, pool: dict[str, list[Image]]) -> None:
        self.server = server
        self.pool = pool
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.errors: list[str] = []
        self.operations = 0

    def work(self, seed: int) -> None:
        rng = random.Random(seed)
        with httpx.Client(base_url=self.server.url, timeout=10) as client:
            while not self.stop.is_set():
                try:
                    self._step(client, rng)
                except UnexpectedAnswerError as exc:
                    self.errors.append(str(exc))
                    return
                except httpx.HTTPError:
                    return  # the server is gone
                with self.lock:
                    self.operations += 1

    def _step(self, client: httpx.Client, rng: random.Random) -> None:
        repository, tag = rng.choice(REPOSITORIES), rng.choice(TAGS)
        if rng.random() < 0.5:  # move the tag to an image the repository has
            with self.lock:
                image = rng.choice(self.pool[repository])
            _put_manifest(client, repository, tag, image)
            return
        image = make_image(layers=2, size=rng.randrange(1, 64 * 1024))
        for blob in (image.config, *image.layers):
            _upload(client, repository, blob)
        _put_manifest(client, repository, tag, image)
        with self.lock:
            self.pool[repository].append(image)


def _kill(server: RunningServer) -> None:
    for pid in process_tree(server.process.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    server.process.wait(10)


def _check_every_tag(client: httpx.Client) -> int:
    checked = 0
    for repository in REPOSITORIES:
        listed = client.get(f"/v2/{repository}/tags/list")
        assert listed.status_code == 200, listed.text
        for tag in listed.json()["tags"]:
            manifest = client.get(f"/v2/{repository}/manifests/{tag}")
            assert manifest.status_code == 200, (repository, tag, manifest.text)
            body = json.loads(manifest.content)
            for descriptor in (body["config"], *body["layers"]):
                blob = client.get(f"/v2/{repository}/blobs/{descriptor['digest']}")
                assert blob.status_code == 200, (repository, tag, descriptor, blob.text)
                assert sha256(blob.content) == descriptor["digest"]
                assert len(blob.content) == descriptor["size"]
            checked += 1
    return checked


def test_sigkill_during_tag_moves_leaves_nothing_referenced_missing(tmp_path: Path) -> None:
    server = start_server(tmp_path)
    try:
        pool: dict[str, list[Image]] = {}
        with server.client() as client:
            for repository in REPOSITORIES:
                pool[repository] = [make_image(layers=2) for _ in range(3)]
                for image, tag in zip(pool[repository], TAGS, strict=False):
                    push_image(client, repository, image, tag=tag)
        churn = Churn(server, pool)
        workers = [threading.Thread(target=churn.work, args=(n,)) for n in range(WORKERS)]
        for worker in workers:
            worker.start()
        time.sleep(2.5)
        _kill(server)
        churn.stop.set()
        for worker in workers:
            worker.join(30)
    finally:
        stop_server(server)
    assert not churn.errors, churn.errors[:3]
    assert churn.operations > 20, "the kill landed among many operations"
    with serving(tmp_path, data_dir=server.data_dir) as restarted, restarted.client() as client:
        assert _check_every_tag(client) >= len(REPOSITORIES) * 3
    fsck = subprocess.run(
        [DOCKYARD, "fsck", "--rehash", "all", "--data-dir", str(server.data_dir)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    assert ": 0 problems" in fsck.stdout, fsck.stdout
