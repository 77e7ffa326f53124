"""The access log writer and the request-id check, on a real pipe (no server)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
from collections.abc import Iterator

import pytest

from dockyard.api.access_log import PIPE_BUF, AccessEntry, AccessLog
from dockyard.api.request_id import MAX_LENGTH, RequestIds, acceptable


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    read, write = os.pipe()
    os.set_blocking(read, False)
    yield read, write
    os.close(read)
    os.close(write)


def drain(fd: int) -> bytes:
    data = b""
    while True:
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:
            return data
        data += chunk


def entry(path: str = "/v2/a/manifests/v1", user: str = "alice") -> AccessEntry:
    return AccessEntry("id-1", "GET", "manifest", path, "a", 200, 0, 527, 0.25, user, "127.0.0.1")


def test_json_line_escapes_client_text_and_keeps_one_line(pipe: tuple[int, int]) -> None:
    log = AccessLog("json", {"service": "registry", "status": "shadowed"}, fd=pipe[1])
    log.record(entry(path='/v2/a\n{"forged":1}"', user="bob\x1b[31m"))
    log.flush()
    lines = drain(pipe[0]).splitlines()
    assert len(lines) == 1
    line = json.loads(lines[0])
    assert line["path"] == '/v2/a\n{"forged":1}"' and line["user"] == "bob\x1b[31m"
    assert line["service"] == "registry" and line["status"] == 200
    assert list(line)[:5] == ["time", "level", "logger", "msg", "service"]


def test_a_lone_surrogate_is_replaced_not_raised(pipe: tuple[int, int]) -> None:
    log = AccessLog("json", {}, fd=pipe[1])
    log.record(entry(path="/v2/a\udcff/tags/list"))
    log.flush()
    assert json.loads(drain(pipe[0]))["path"] == "/v2/a?/tags/list"


def test_logstash_names_the_time_field_at_timestamp(pipe: tuple[int, int]) -> None:
    log = AccessLog("logstash", {}, fd=pipe[1])
    log.record(entry())
    log.flush()
    line = json.loads(drain(pipe[0]))
    assert "@timestamp" in line and "time" not in line and line["logger"] == "dockyard.access"


def test_text_line_quotes_values_with_control_characters(pipe: tuple[int, int]) -> None:
    log = AccessLog("text", {}, fd=pipe[1])
    log.record(entry(path="/v2/a\nforged=1"))
    log.flush()
    text = drain(pipe[0]).decode()
    assert text.count("\n") == 1
    assert " info  dockyard.access: request request_id=id-1 method=GET " in text
    assert 'path="/v2/a\\nforged=1"' in text and "user=alice" in text


def test_lines_wait_for_the_timer_and_writes_stay_within_pipe_buf() -> None:
    """A SOCK_SEQPACKET pair keeps each write() a message of its own, so sizes can be seen."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    theirs.setblocking(False)

    def writes() -> list[bytes]:
        seen = []
        with contextlib.suppress(BlockingIOError):
            while True:
                seen.append(theirs.recv(1 << 16))
        return seen

    async def scenario() -> tuple[list[bytes], list[bytes]]:
        log = AccessLog("json", {}, fd=ours.fileno())
        log.record(entry())
        assert writes() == []  # batched: not written yet
        await asyncio.sleep(0.05)
        first = writes()
        for _ in range(100):
            log.record(entry())
        await asyncio.sleep(0.05)
        return first, writes()

    with ours, theirs:
        first, burst = asyncio.run(scenario())
    assert len(first) == 1 and first[0].count(b"\n") == 1
    assert sum(w.count(b"\n") for w in burst) == 100
    assert 1 < len(burst) < 100 and all(len(w) <= PIPE_BUF for w in burst)
    assert all(w.endswith(b"\n") for w in burst)


def test_close_writes_pending_lines_and_then_every_line_at_once(pipe: tuple[int, int]) -> None:
    async def scenario() -> tuple[bytes, bytes]:
        log = AccessLog("json", {}, fd=pipe[1])
        log.record(entry())
        log.close()
        closed = drain(pipe[0])
        log.record(entry())
        return closed, drain(pipe[0])

    closed, after = asyncio.run(scenario())
    assert closed.count(b"\n") == 1 and after.count(b"\n") == 1


@pytest.mark.parametrize(
    "given",
    [
        "a" * 10 * 1024,
        "a" * (MAX_LENGTH + 1),
        "",
        "two\nlines",
        'quote"d',
        "tab\t",
        "esc\x1b[0m",
        "nul\x00",
        "del\x7f",
        "\u00e9t\u00e9",
        "semi;colon",
        "with space",
    ],
)
def test_unacceptable_client_ids_are_replaced(given: str) -> None:
    assert not acceptable(given)
    ours = RequestIds().for_request(given)
    assert ours != given and len(ours) == 16


@pytest.mark.parametrize("given", ["a" * MAX_LENGTH, "0f8fad5b-d9cb-469f", "x.y_z~!#$%&'*+^`|"])
def test_token_ids_up_to_the_limit_are_kept(given: str) -> None:
    assert RequestIds().for_request(given) == given


def test_our_ids_are_unique() -> None:
    ids = RequestIds()
    assert ids.for_request(None) != ids.for_request(None)
