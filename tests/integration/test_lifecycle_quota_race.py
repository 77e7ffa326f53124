"""A project's quota under concurrent pushes through the real server, on SQLite and PostgreSQL.

Fifteen clients open an upload session each, wait for one another, then send 3 MiB at the
same moment into a project with a 10 MiB quota: whatever the interleaving, exactly three blobs
are stored, as if they had come one after the other. With ``Content-Length`` each body's hold
is taken before its bytes are read; without one (chunked), once its bytes have arrived and
before they count. Everyone else hears ``403 DENIED`` and has nothing stored; nobody a 500.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from support import postgres
from support.oci import assert_oci_error, sha256
from support.server import RunningServer, serving

MIB = 1 << 20
SIZE = 3 * MIB
CLIENTS = 15
CONFIG = """
version: 0.1
dockyard:
  quotas:
    default: 10MiB
"""

Upload = Callable[[httpx.Client, str, bytes], httpx.Response]


@pytest.fixture(params=["sqlite", "postgres"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunningServer]:
    env = {}
    if request.param == "postgres":
        env["REGISTRY_DOCKYARD_DATABASE"] = postgres.suite_database_url("quota_race")
    with serving(tmp_path, config=CONFIG, env=env) as running:
        yield running


def _with_length(client: httpx.Client, location: str, data: bytes) -> httpx.Response:
    return client.put(location, params={"digest": sha256(data)}, content=data)


def _without_length(client: httpx.Client, location: str, data: bytes) -> httpx.Response:
    def chunks() -> Iterator[bytes]:
        for start in range(0, len(data), 256 * 1024):
            yield data[start : start + 256 * 1024]

    patched = client.patch(location, content=chunks())  # chunked: no Content-Length
    if patched.status_code != 202:
        return patched
    return client.put(patched.headers["location"], params={"digest": sha256(data)})


def _race(server: RunningServer, project: str, upload: Upload) -> list[tuple[str, httpx.Response]]:
    """(repository@digest, answer) of each client's upload, all sent at the same moment."""
    barrier = threading.Barrier(CLIENTS)
    answers: list[tuple[str, httpx.Response]] = []

    def one(index: int) -> None:
        data, repository = os.urandom(SIZE), f"{project}/r{index}"
        with httpx.Client(base_url=server.url, timeout=300) as client:
            started = client.post(f"/v2/{repository}/blobs/uploads/")
            assert started.status_code == 202, started.text
            barrier.wait(timeout=120)
            answers.append(
                (
                    f"{repository}/blobs/{sha256(data)}",
                    upload(client, started.headers["location"], data),
                )
            )

    threads = [threading.Thread(target=one, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert len(answers) == CLIENTS, "every client got an answer"
    return answers


@pytest.mark.parametrize("upload", [_with_length, _without_length], ids=["length", "chunked"])
def test_concurrent_uploads_never_pass_the_quota(server: RunningServer, upload: Upload) -> None:
    project = "race" + secrets.token_hex(4)
    answers = _race(server, project, upload)
    statuses = sorted(answer.status_code for _, answer in answers)
    assert statuses.count(201) == 3, statuses
    with server.client() as client:
        for blob, answer in answers:
            if answer.status_code == 201:
                assert client.head(f"/v2/{blob}").status_code == 200
                continue
            error = assert_oci_error(answer, 403, "DENIED")
            assert f'quota of project "{project}" exceeded' in error["message"], error
            assert client.head(f"/v2/{blob}").status_code == 404, "nothing stored"
