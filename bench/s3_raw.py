"""Raw S3 transfers with obstore, the client library dockyard's S3 driver uses: the baseline of
workload 12. The harness runs this file as its own process with dockyard's Python (it needs
obstore), so the harness itself stays standard library only; nothing imports it.

    python bench/s3_raw.py put KEY FILE | get KEY | delete KEY | wait SECONDS

The store comes from ``BENCH_S3_{ENDPOINT,BUCKET,ACCESS_KEY,SECRET_KEY,PART_SIZE}``. ``put`` and
``get`` print one JSON line, ``{"bytes": n, "seconds": s}``, timing the transfer only (not the
start of this process). They move bytes the way dockyard's driver does: a PUT is a multipart
upload in parts of ``PART_SIZE`` with two in flight, a GET streams in chunks of at least 1 MiB.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import traceback
from datetime import timedelta
from pathlib import Path

import obstore
from obstore.store import S3Store

IN_FLIGHT = 2  # parts uploading at once, as dockyard's S3 writer
READ_CHUNK = 1 << 20  # as dockyard's S3 reads


def store() -> S3Store:
    env = os.environ
    return S3Store(
        env["BENCH_S3_BUCKET"],
        config={
            "endpoint": env["BENCH_S3_ENDPOINT"],
            "region": "us-east-1",
            "access_key_id": env["BENCH_S3_ACCESS_KEY"],
            "secret_access_key": env["BENCH_S3_SECRET_KEY"],
            "virtual_hosted_style_request": False,
        },
        client_options={"allow_http": True, "connect_timeout": timedelta(seconds=5)},
    )


async def put(objects: S3Store, key: str, source: str) -> int:
    await obstore.put_async(
        objects,
        key,
        Path(source),
        use_multipart=True,
        chunk_size=int(os.environ["BENCH_S3_PART_SIZE"]),
        max_concurrency=IN_FLIGHT,
    )
    return os.stat(source).st_size


async def get(objects: S3Store, key: str) -> int:
    result = await obstore.get_async(objects, key)
    received = 0
    async for chunk in result.stream(min_chunk_size=READ_CHUNK):
        received += len(chunk)
    return received


async def wait(objects: S3Store, seconds: float) -> None:
    """Until a signed LIST of the bucket succeeds (gateway and filer both up)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            await obstore.list_with_delimiter_async(objects, "")
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def main(argv: list[str]) -> None:
    objects = store()
    command, *args = argv
    if command == "wait":
        await wait(objects, float(args[0]))
    elif command == "delete":
        await obstore.delete_async(objects, args[0])
    elif command in ("put", "get"):
        started = time.perf_counter()
        size = await (put(objects, *args) if command == "put" else get(objects, *args))
        print(json.dumps({"bytes": size, "seconds": time.perf_counter() - started}))
    else:
        raise SystemExit(f"unknown command {command!r}")


def run(argv: list[str]) -> None:
    """Run ``main`` and leave without the interpreter's finalization, where obstore's runtime
    threads sometimes make CPython abort (SIGABRT after the work is done, seen with 0.12)."""
    code = 0
    try:
        asyncio.run(main(argv))
    except BaseException:
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run(sys.argv[1:])
