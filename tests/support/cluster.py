"""The scaled-out stack of examples/cluster/, on loopback, for the cluster tests.

PostgreSQL (metadata), SeaweedFS (S3: blobs), Redis (shared cache and upload locks), three
dockyard nodes configured from ``examples/cluster/node.yml`` and nginx configured from
``examples/cluster/nginx.conf``. Only addresses and credentials differ from the example; they
come from ``REGISTRY_*`` variables, as the example's README sets them.

One stack serves every cluster test of the session (``cluster_stack``). Tests may break it —
SIGKILL a node, stop PostgreSQL or S3 — and the ``cluster`` fixture starts whatever is down
before the next test. Tests use their own repository names, so they never see each other.
tests/integration/conftest.py makes the fixtures available to the integration tests.

:class:`Traffic` pushes and pulls small images through nginx from a few threads while a test
breaks something, and records every answer that is neither a success nor a clean 503.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import os
import shutil
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from support import postgres, seaweed
from support.nginx import nginx_in_front
from support.oci import Image, make_image, sha256
from support.redis_server import RedisServer, start_redis
from support.server import RunningServer, free_port, start_server, stop_server

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "cluster"
NODE_CONFIG = EXAMPLE / "node.yml"
# node.yml probes S3 and PostgreSQL every 10 s; the outage tests want to see it sooner
FAST_HEALTH_PROBES = {"REGISTRY_HEALTH_STORAGEDRIVER_INTERVAL": "250ms"}
SIZE = 3


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (from /proc), parents first."""
    found, index = [pid], 0
    while index < len(found):
        for task in Path(f"/proc/{found[index]}/task").glob("*"):
            with contextlib.suppress(OSError):
                found += [int(c) for c in (task / "children").read_text().split()]
        index += 1
    return found


@dataclass
class Node:
    """One dockyard node on a fixed port (so nginx's configuration survives its restarts)."""

    index: int
    workdir: Path
    port: int = field(default_factory=free_port)
    debug_port: int = field(default_factory=free_port)
    server: RunningServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.server is not None and self.server.process.poll() is None

    @property
    def pid(self) -> int:
        assert self.server is not None
        return self.server.process.pid

    def client(self, timeout: float = 30) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=timeout)

    def log(self) -> str:
        path = self.workdir / f"server-{self.port}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def kill(self) -> None:
        """SIGKILL the node's server and its workers at once, like a machine that dies."""
        assert self.server is not None
        for pid in process_tree(self.server.process.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.server.process.wait(10)


class Cluster:
    """The whole stack; ``heal()`` (re)starts whatever is down."""

    def __init__(self, root: Path, size: int = SIZE) -> None:
        self.root = root
        self._stack = ExitStack()
        atexit.register(self.close)  # also when the session ends without its teardown
        try:
            self._start(root, size)
        except BaseException:
            self.close()
            raise

    def _start(self, root: Path, size: int) -> None:
        self.postgres = postgres.PostgresServer()
        self._stack.callback(self.postgres.close)
        self.postgres.start()
        self.database_url = self.postgres.create_database("cluster")
        self.weed = seaweed.start_seaweed(root / "weed")
        self._stack.callback(self.weed.stop)
        (root / "redis").mkdir()
        self.redis: RedisServer = start_redis(root / "redis")
        self._stack.callback(self.redis.stop)
        self.s3_root = seaweed.unique_root("cluster")
        self.nodes = [Node(index, root / f"node{index}") for index in range(size)]
        self._stack.callback(self._stop_nodes)
        with ThreadPoolExecutor(size) as pool:
            list(pool.map(self.start_node, self.nodes))
        ports = [node.port for node in self.nodes]
        self.url = self._stack.enter_context(nginx_in_front(root, ports))

    @property
    def host(self) -> str:
        """``127.0.0.1:port`` of nginx, for image references."""
        return self.url.removeprefix("http://")

    def node_env(self, node: Node) -> dict[str, str]:
        """What the README sets per node: addresses and credentials; the rest is node.yml."""
        return {
            **self.weed.env(self.s3_root),
            "REGISTRY_DOCKYARD_DATABASE": self.database_url,
            "REGISTRY_REDIS_ADDR": self.redis.addr,
            "REGISTRY_HTTP_ADDR": f"127.0.0.1:{node.port}",
            "REGISTRY_HTTP_DEBUG_ADDR": f"127.0.0.1:{node.debug_port}",
        }

    def start_node(self, node: Node, extra_env: dict[str, str] | None = None) -> None:
        node.workdir.mkdir(exist_ok=True)
        node.server = start_server(
            node.workdir,
            config=NODE_CONFIG.read_text(),
            env={**self.node_env(node), **FAST_HEALTH_PROBES, **(extra_env or {})},
            port=node.port,
            data_dir_flag=False,
            server=None,  # node.yml's choice (uvicorn), as the README runs it
        )

    def heal(self) -> None:
        if self.postgres.process is None or self.postgres.process.poll() is not None:
            self.postgres.start()
        if self.weed.process is None or self.weed.process.poll() is not None:
            self.weed.start()
        if self.redis.process is None or self.redis.process.poll() is not None:
            self.redis.start()
        for node in self.nodes:
            if not node.alive:
                self.start_node(node)

    def client(self, timeout: float = 60) -> httpx.Client:
        """A client of the load balancer."""
        return httpx.Client(base_url=self.url, timeout=timeout)

    def log_marks(self) -> list[int]:
        return [len(node.log()) for node in self.nodes]

    def logs_since(self, marks: list[int]) -> str:
        return "".join(node.log()[mark:] for node, mark in zip(self.nodes, marks, strict=True))

    def _stop_nodes(self) -> None:
        for node in self.nodes:
            if node.alive and node.server is not None:
                stop_server(node.server)

    def close(self) -> None:
        self._stack.close()


def missing_tools() -> list[str]:
    tools = {"nginx": shutil.which("nginx") or Path("/usr/sbin/nginx").exists()}
    tools["redis-server"] = shutil.which("redis-server") is not None
    tools["postgresql"] = postgres.available()
    return [name for name, found in tools.items() if not found]


@pytest.fixture(scope="session")
def cluster_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    missing = missing_tools()
    if missing:
        pytest.fail(f"missing for the cluster tests: {', '.join(missing)} (scripts/bootstrap)")
    cluster = Cluster(tmp_path_factory.mktemp("cluster"))
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture
def cluster(cluster_stack: Cluster) -> Cluster:
    """The session's stack with every part running."""
    cluster_stack.heal()
    return cluster_stack


# ---------------------------------------------------------------------------- checks


def assert_no_internal_errors(log: str) -> None:
    """No request was answered 500 (the API logs those as "unhandled error")."""
    assert "unhandled error" not in log
    assert '"status":500' not in log.replace(" ", "")


def assert_clean_503(response: httpx.Response) -> None:
    """A 503 with the OCI error envelope (UNAVAILABLE), not a proxy's error page."""
    assert response.status_code == 503, (response.status_code, response.text[:300])
    if response.request.method != "HEAD":
        body = response.json()
        assert body["errors"][0]["code"] == "UNAVAILABLE", body


def assert_image_readable(client: httpx.Client, repo: str, reference: str, image: Image) -> None:
    """The manifest is served byte for byte and every blob it references hashes right."""
    got = client.get(f"/v2/{repo}/manifests/{reference}", headers={"Accept": image.media_type})
    assert got.status_code == 200 and got.content == image.manifest, (repo, got.status_code)
    for blob in [image.config, *image.layers]:
        body = client.get(f"/v2/{repo}/blobs/{sha256(blob)}", follow_redirects=True).content
        assert body == blob, (repo, sha256(blob))


def assert_blobs_whole_or_absent(client: httpx.Client, repo: str, image: Image) -> None:
    """After a failed push: each blob is either unknown (404) or served whole and right."""
    for blob in [image.config, *image.layers]:
        url = f"/v2/{repo}/blobs/{sha256(blob)}"
        head = client.head(url)
        assert head.status_code in (200, 404), (url, head.status_code)
        if head.status_code == 200:
            assert client.get(url, follow_redirects=True).content == blob, url


def assert_every_manifest_readable(client: httpx.Client, prefix: str) -> int:
    """Walk catalog, tags and manifests below ``prefix``: every referenced blob is served and
    hashes to its digest. Returns how many manifests were checked."""
    repos = client.get("/v2/_catalog", params={"n": 1000}).json()["repositories"]
    checked = 0
    for repo in (r for r in repos if r.startswith(prefix + "/")):
        tags = client.get(f"/v2/{repo}/tags/list").json()["tags"] or []
        for tag in tags:
            manifest = client.get(f"/v2/{repo}/manifests/{tag}")
            assert manifest.status_code == 200, (repo, tag, manifest.text)
            body = json.loads(manifest.content)
            for descriptor in [body["config"], *body["layers"]]:
                blob = client.get(f"/v2/{repo}/blobs/{descriptor['digest']}")
                assert blob.status_code == 200, (repo, tag, descriptor, blob.text[:200])
                digest = "sha256:" + hashlib.sha256(blob.content).hexdigest()
                assert digest == descriptor["digest"] and len(blob.content) == descriptor["size"]
            checked += 1
    return checked


# ---------------------------------------------------------------------------- traffic

#: What each step of a push or pull answers when all is well.
_SUCCESS = {"POST": 201, "PUT": 201, "GET": 200, "HEAD": 200}


@dataclass
class Traffic:
    """A few threads pushing small images through the load balancer and pulling them back.

    Every loop is bounded (``max_rounds`` per thread, ``max_seconds`` in all). Answers other
    than the expected success or a clean 503 (OCI envelope, code UNAVAILABLE) — and transport
    errors — are collected in ``bad``; ``pushed`` holds every image whose push succeeded,
    ``failed`` those whose push stopped at a failed step.
    """

    url: str
    prefix: str
    threads: int = 2
    max_rounds: int = 400
    max_seconds: float = 90
    layer_size: int = 32 * 1024
    statuses: Counter[int] = field(default_factory=Counter)
    bad: list[str] = field(default_factory=list)
    pushed: list[tuple[str, str, Image]] = field(default_factory=list)
    failed: list[tuple[str, Image]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Traffic:
        deadline = time.monotonic() + self.max_seconds
        for index in range(self.threads):
            worker = threading.Thread(target=self._run, args=(index, deadline), daemon=True)
            worker.start()
            self._workers.append(worker)
        return self

    def stop(self) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(60)
            assert not worker.is_alive(), "a traffic thread is stuck"

    def count(self, status: int) -> int:
        with self._lock:
            return self.statuses[status]

    def wait(self, what: str, condition: Callable[[], bool], timeout: float = 30) -> None:
        """Until ``condition()`` holds (bounded); fails with ``what`` otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}: {dict(self.statuses)} {self.bad}")

    def wait_for_pushes(self, count: int, timeout: float = 30) -> None:
        self.wait(f"{count} pushes", lambda: len(self.pushed) >= count, timeout)

    def _run(self, index: int, deadline: float) -> None:
        repo = f"{self.prefix}/t{index}"
        with httpx.Client(base_url=self.url, timeout=30) as client:
            for round_ in range(self.max_rounds):
                if self._stop.is_set() or time.monotonic() > deadline:
                    return
                image = make_image(layers=2, size=self.layer_size)
                tag = f"r{round_}"
                if self._push(client, repo, image, tag):
                    with self._lock:
                        self.pushed.append((repo, tag, image))
                    self._pull(client, *self.pushed[len(self.pushed) // 2])
                else:
                    with self._lock:
                        self.failed.append((repo, image))
                time.sleep(0.01)

    def _push(self, client: httpx.Client, repo: str, image: Image, tag: str) -> bool:
        for blob in [image.config, *image.layers]:
            url = f"/v2/{repo}/blobs/uploads/"
            pushed = self._call(client, "POST", url, params={"digest": sha256(blob)}, content=blob)
            if pushed is None:
                return False
        headers = {"Content-Type": image.media_type}
        url = f"/v2/{repo}/manifests/{tag}"
        return self._call(client, "PUT", url, headers=headers, content=image.manifest) is not None

    def _pull(self, client: httpx.Client, repo: str, tag: str, image: Image) -> None:
        headers = {"Accept": image.media_type}
        response = self._call(client, "GET", f"/v2/{repo}/manifests/{tag}", headers=headers)
        if response is not None and response.content != image.manifest:
            self._bad(f"GET manifest {repo}:{tag}: other bytes")
        blob = image.layers[0]
        response = self._call(client, "GET", f"/v2/{repo}/blobs/{sha256(blob)}")
        if response is not None and response.content != blob:
            self._bad(f"GET blob {repo} {sha256(blob)}: other bytes")

    def _call(
        self, client: httpx.Client, method: str, url: str, **kwargs: object
    ) -> httpx.Response | None:
        """One request; the response when it succeeded, None when it failed (cleanly or not)."""
        try:
            response = client.request(method, url, **kwargs)  # type: ignore[arg-type]
        except httpx.HTTPError as exc:
            self._bad(f"{method} {url}: {type(exc).__name__}: {exc}")
            return None
        with self._lock:
            self.statuses[response.status_code] += 1
        if response.status_code == _SUCCESS[method]:
            return response
        try:
            assert_clean_503(response)
        except (AssertionError, ValueError, KeyError):
            self._bad(f"{method} {url}: {response.status_code} {response.text[:200]}")
        return None

    def _bad(self, what: str) -> None:
        with self._lock:
            self.bad.append(what)
