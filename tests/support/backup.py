"""Helpers of the backup and restore tests: run the CLI with a backend's environment, push
images from threads while something else happens, and compare two registries pull by pull."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from support.oci import Image, make_image, push_image
from support.server import DOCKYARD


def cli(
    args: list[str], env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("REGISTRY_", "AWS_"))}
    full.update(env)
    return subprocess.run(
        [DOCKYARD, *args], capture_output=True, text=True, env=full, timeout=timeout, check=False
    )


@dataclass
class Pusher:
    """Pushes new images to ``url`` from a thread until stopped; records what it pushed."""

    url: str
    prefix: str
    pushed: list[tuple[str, str, Image]] = field(default_factory=list)  # (repo, tag, image)
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Pusher:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout=120)

    def _loop(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            count = 0
            while not self._stop.is_set():
                repo, tag = f"{self.prefix}/r{count % 3}", f"t{count}"
                image = make_image(layers=2, size=50_000)
                try:
                    push_image(client, repo, image, tag=tag)
                except AssertionError as exc:  # pragma: no cover - reported by the test
                    self.errors.append(str(exc))
                    return
                self.pushed.append((repo, tag, image))
                count += 1


def registry_tags(client: httpx.Client) -> list[tuple[str, str]]:
    repos = client.get("/v2/_catalog", params={"n": 1000}).json()["repositories"]
    pairs = []
    for repo in repos:
        tags = client.get(f"/v2/{repo}/tags/list", params={"n": 1000}).json()["tags"] or []
        pairs += [(repo, tag) for tag in tags]
    return sorted(pairs)


ACCEPT = ",".join([
    "application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
])  # fmt: skip


def pull_digests(client: httpx.Client, repo: str, reference: str) -> dict[str, str]:
    """Every blob and manifest under ``repo:reference``, by digest -> sha256 of the pulled
    bytes (which must equal the digest for the pull to be byte-identical)."""
    response = client.get(f"/v2/{repo}/manifests/{reference}", headers={"Accept": ACCEPT})
    assert response.status_code == 200, (repo, reference, response.text)
    pulled = {"manifest": "sha256:" + hashlib.sha256(response.content).hexdigest()}
    body = json.loads(response.content)
    for child in body.get("manifests", []):
        pulled.update(pull_digests(client, repo, child["digest"]))
    for blob in [body.get("config"), *body.get("layers", [])]:
        if blob is None:
            continue
        got = client.get(f"/v2/{repo}/blobs/{blob['digest']}", follow_redirects=True)
        assert got.status_code == 200, (repo, blob["digest"], got.status_code)
        pulled[blob["digest"]] = "sha256:" + hashlib.sha256(got.content).hexdigest()
    return pulled


def assert_same_pulls(original: httpx.Client, restored: httpx.Client) -> list[tuple[str, str]]:
    """Every tag of ``restored`` pulls byte-identical to ``original``; returns the tags."""
    tags = registry_tags(restored)
    for repo, tag in tags:
        mine, theirs = pull_digests(restored, repo, tag), pull_digests(original, repo, tag)
        assert mine == theirs, (repo, tag)
        assert all(k == v for k, v in mine.items() if k != "manifest"), (repo, tag)
    return tags


def backup_manifest(destination: Path) -> dict[str, object]:
    latest = (destination / "latest").read_text().strip()
    data: dict[str, object] = json.loads(
        (destination / "backups" / latest / "manifest.json").read_text()
    )
    return data
