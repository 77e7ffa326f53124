"""One blob download shared by its readers: bytes as they arrive, never the last byte before
the digest verified, and a failure reaching every reader."""

from __future__ import annotations

import asyncio

import pytest

from dockyard.services.upstream.flight import Flight, FlightFailedError, FlightReader


async def _read_all(reader: FlightReader, offset: int = 0, length: int | None = None) -> bytes:
    out = bytearray()
    try:
        async for chunk in reader.chunks(offset, length):
            out += chunk
    finally:
        reader.release()
    return bytes(out)


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_readers_joining_early_and_late_all_get_every_byte() -> None:
    async def scenario() -> list[bytes]:
        flight = Flight("sha256:x", 9)
        early = asyncio.create_task(_read_all(flight.join()))
        flight.append(b"abc")
        await _settle()
        late = asyncio.create_task(_read_all(flight.join()))  # reads the spool, then follows
        flight.append(b"def")
        flight.append(b"ghi")
        await _settle()
        flight.verified()
        ranged = await _read_all(flight.join(), 2, 4)
        results = [await early, await late, ranged]
        flight.finish()
        return results

    assert asyncio.run(scenario()) == [b"abcdefghi", b"abcdefghi", b"cdef"]


def test_the_last_byte_waits_for_the_verdict() -> None:
    async def scenario() -> bytes:
        flight = Flight("sha256:x", 4)
        reader = flight.join()
        got = bytearray()

        async def read() -> None:
            async for chunk in reader.chunks():
                got.extend(chunk)

        task = asyncio.create_task(read())
        flight.append(b"abcd")  # every byte is there, but not yet verified
        await _settle()
        seen = bytes(got)
        flight.failed("the bytes do not match the digest")
        with pytest.raises(FlightFailedError, match="do not match"):
            await task
        reader.release()
        flight.finish()
        return seen

    assert asyncio.run(scenario()) == b"abc"


def test_more_bytes_than_announced_are_refused() -> None:
    async def scenario() -> None:
        flight = Flight("sha256:x", 2)
        with pytest.raises(ValueError, match="more than"):
            flight.append(b"abc")
        flight.failed("too long")
        flight.finish()

    asyncio.run(scenario())


def test_an_unknown_size_reads_to_the_end_once_verified() -> None:
    async def scenario() -> bytes:
        flight = Flight("sha256:x", None)
        task = asyncio.create_task(_read_all(flight.join()))
        flight.append(b"xy")
        flight.append(b"z")
        await _settle()
        flight.verified()
        data = await task
        flight.finish()
        return data

    assert asyncio.run(scenario()) == b"xyz"


def test_the_spool_closes_when_the_flight_is_finished_and_the_last_reader_left() -> None:
    async def scenario() -> None:
        flight = Flight("sha256:x", 1)
        reader = flight.join()
        flight.append(b"a")
        flight.verified()
        flight.finish()
        assert not flight._file.closed  # a reader still holds it
        reader.release()
        reader.release()  # idempotent
        assert flight._file.closed and flight.readers == 0
        with pytest.raises(RuntimeError):
            flight.join()

    asyncio.run(scenario())
