"""Distribution API calls the workloads make: big blob transfers (blocking, sendfile) and
small pushes (asyncio)."""

from __future__ import annotations

import asyncio
import http.client
from collections.abc import Iterable

from bench.content import OCI_MANIFEST, BlobFile, Image, sha256
from bench.http import (
    AsyncConnection,
    Job,
    connect,
    get_discard,
    run_jobs,
    send_file,
    with_query,
)
from bench.servers import Server

OCTETS = {"Content-Type": "application/octet-stream"}


def _start_upload(conn: http.client.HTTPConnection, repo: str) -> str:
    response = send_file(conn, "POST", f"/v2/{repo}/blobs/uploads/", None)
    return response.expect(202, what="start upload").location()


def push_monolithic(server: Server, repo: str, blob: BlobFile) -> None:
    """POST to open a session, then one PUT ?digest= carrying the whole blob."""
    conn = connect(server.host, server.port)
    try:
        location = _start_upload(conn, repo)
        target = with_query(location, f"digest={blob.digest}")
        response = send_file(conn, "PUT", target, blob.path, span=(0, blob.size), headers=OCTETS)
        response.expect(201, what="PUT blob")
    finally:
        conn.close()


def push_chunked(server: Server, repo: str, blob: BlobFile, chunk: int) -> None:
    """POST, one PATCH per ``chunk`` bytes (with Content-Range), then an empty PUT ?digest=."""
    conn = connect(server.host, server.port)
    try:
        location = _start_upload(conn, repo)
        for offset in range(0, blob.size, chunk):
            length = min(chunk, blob.size - offset)
            headers = {**OCTETS, "Content-Range": f"{offset}-{offset + length - 1}"}
            response = send_file(
                conn, "PATCH", location, blob.path, span=(offset, length), headers=headers
            )
            location = response.expect(202, what=f"PATCH at {offset}").location()
        target = with_query(location, f"digest={blob.digest}")
        send_file(conn, "PUT", target, None).expect(201, what="closing PUT")
    finally:
        conn.close()


def get_blob(server: Server, repo: str, blob: BlobFile) -> None:
    conn = connect(server.host, server.port)
    try:
        status, received = get_discard(conn, f"/v2/{repo}/blobs/{blob.digest}")
    finally:
        conn.close()
    if status != 200 or received != blob.size:
        raise RuntimeError(f"GET blob: HTTP {status}, {received} of {blob.size} bytes")


# small pushes ----------------------------------------------------------------------------------


async def push_small_blob(conn: AsyncConnection, repo: str, data: bytes, digest: str) -> None:
    response = await conn.request("POST", f"/v2/{repo}/blobs/uploads/")
    location = response.expect(202, what="start upload").location()
    target = with_query(location, f"digest={digest}")
    response = await conn.request("PUT", target, OCTETS, data)
    response.expect(201, what="PUT blob")


async def put_manifest(
    conn: AsyncConnection, repo: str, reference: str, body: bytes, media_type: str = OCI_MANIFEST
) -> None:
    response = await conn.request(
        "PUT", f"/v2/{repo}/manifests/{reference}", {"Content-Type": media_type}, body
    )
    response.expect(201, what=f"PUT manifest {repo}:{reference}")


async def push_image(conn: AsyncConnection, repo: str, image: Image, tag: str) -> None:
    for blob in image.blobs:
        await push_small_blob(conn, repo, blob, sha256(blob))
    await put_manifest(conn, repo, tag, image.manifest)


def push_image_sync(server: Server, repo: str, image: Image, tag: str) -> None:
    async def job(conn: AsyncConnection) -> None:
        await push_image(conn, repo, image, tag)

    if run_many(server, [job], 1):
        raise RuntimeError(f"push of {repo}:{tag} failed")


def run_many(server: Server, jobs: Iterable[Job], concurrency: int) -> int:
    """Run async jobs on ``concurrency`` connections; the number that failed."""
    return asyncio.run(run_jobs(server.host, server.port, jobs, concurrency))


def tag_jobs(repo: str, manifest: bytes, tags: Iterable[str]) -> Iterable[Job]:
    for tag in tags:

        async def job(conn: AsyncConnection, tag: str = tag) -> None:
            await put_manifest(conn, repo, tag, manifest)

        yield job


def repository_jobs(
    names: Iterable[str], source: str, config: bytes, manifest: bytes
) -> Iterable[Job]:
    """Per repository: mount ``config`` from ``source``, then PUT ``manifest`` as ``v1``."""
    digest = sha256(config)
    for name in names:

        async def job(conn: AsyncConnection, name: str = name) -> None:
            await mount_blob(conn, name, digest, source)
            await put_manifest(conn, name, "v1", manifest)

        yield job


async def mount_blob(conn: AsyncConnection, repo: str, digest: str, source: str) -> None:
    response = await conn.request("POST", f"/v2/{repo}/blobs/uploads/?mount={digest}&from={source}")
    response.expect(201, what=f"mount into {repo}")
