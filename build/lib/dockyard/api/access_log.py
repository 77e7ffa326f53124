"""The access log: one line per request, written without the ``logging`` machinery.

A line has the shape the ``log.formatter`` gives every other log line (see
docs/operations.md), but it is built from pre-encoded constant parts plus one msgspec encode
of the request's own fields, and lines are written in batches: the first line of a batch
arms a short timer (``FLUSH_DELAY``), and a batch that would pass ``PIPE_BUF`` bytes is
written at once, so every write stays atomic on a pipe shared by several workers.
:meth:`AccessLog.close` (lifespan shutdown) writes what is pending and turns batching off,
so a clean stop loses nothing; a crash loses at most the last ``FLUSH_DELAY``.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

import msgspec

if TYPE_CHECKING:
    from dockyard.api.context import Context

FLUSH_DELAY = 0.005  # seconds a line may wait for company before it is written
PIPE_BUF = 4096  # writes up to this size are atomic on a pipe (POSIX)
LOGGER = "dockyard.access"
MESSAGE = "request"
FORMATTERS = ("json", "logstash", "text")


class AccessEntry(msgspec.Struct, gc=False):
    """The request's own fields, in the order they appear on the line."""

    request_id: str
    method: str
    route: str
    path: str
    repository: str
    status: int
    bytes_in: int
    bytes_out: int
    duration_ms: float
    user: str
    remote: str


def registry_entry(ctx: Context, seconds: float) -> AccessEntry:
    """The access log entry of a registry (``/v2``, token) request."""
    request = ctx.request
    return AccessEntry(
        ctx.request_id,
        request.method,
        ctx.route,
        request.path,
        ctx.repository,
        ctx.status,
        request.bytes_received,
        ctx.bytes_sent,
        round(seconds * 1000, 3),
        ctx.principal.name,
        (request.scope.get("client") or ("", 0))[0],
    )


_ENTRY_FIELDS = frozenset(AccessEntry.__struct_fields__)
_encode = msgspec.json.Encoder().encode


class _Clock:
    """ISO 8601 UTC timestamps with milliseconds, as bytes; formatted once per millisecond."""

    def __init__(self) -> None:
        self._millisecond = -1
        self._stamp = b""

    def now(self) -> bytes:
        millisecond = int(time.time() * 1000)
        if millisecond != self._millisecond:
            self._millisecond = millisecond
            second, fraction = divmod(millisecond, 1000)
            text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._stamp = f"{text}.{fraction:03d}Z".encode()
        return self._stamp


class AccessLog:
    """Formats and writes access log lines to ``fd`` (stderr unless told)."""

    def __init__(self, formatter: str, fields: Mapping[str, str], fd: int = 2) -> None:
        self._fd = fd
        self._text = formatter == "text"
        time_key = "@timestamp" if formatter == "logstash" else "time"
        self._json_open = b'{"%s":"' % time_key.encode()
        self._json_head = _json_head(time_key, fields)
        self._clock = _Clock()
        self._pending: list[bytes] = []
        self._size = 0
        self._timer: asyncio.TimerHandle | None = None
        self._batching = True

    def record(self, entry: AccessEntry) -> None:
        stamp = self._clock.now()
        if self._text:
            line = _text_line(stamp.decode(), entry)
        else:
            own = _encode_entry(entry)
            line = b"%s%s%s%s\n" % (self._json_open, stamp, self._json_head, own[1:])
        if not self._batching:
            self._write(line)
            return
        if self._size + len(line) > PIPE_BUF:
            self._write_pending()  # the timer stays armed for the lines that follow
        self._pending.append(line)
        self._size += len(line)
        if self._timer is None:
            self._arm()

    def _arm(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # called outside the event loop: nothing would fire the timer
            self._write_pending()
            return
        self._timer = loop.call_later(FLUSH_DELAY, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._write_pending()

    def flush(self) -> None:
        """Write every pending line now."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._write_pending()

    def _write_pending(self) -> None:
        if self._pending:
            data = b"".join(self._pending)
            self._pending.clear()
            self._size = 0
            self._write(data)

    def close(self) -> None:
        """Write what is pending; from now on every line is written as it comes."""
        self.flush()
        self._batching = False

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError:  # a closed or full stderr must not fail the request (as logging does)
            return


def _json_head(time_key: str, fields: Mapping[str, str]) -> bytes:
    """What follows the timestamp: its closing quote and the constant fields.

    A fixed field (``log.fields``) with the name of a request field gives way to it, as it
    did when the two were merged into one dict.
    """
    constant: dict[str, str] = {"level": "info", "logger": LOGGER, "msg": MESSAGE}
    constant.update({k: v for k, v in fields.items() if k not in _ENTRY_FIELDS | {time_key}})
    return b'",' + _encode(constant)[1:-1] + b","


def _encode_entry(entry: AccessEntry) -> bytes:
    try:
        return _encode(entry)
    except UnicodeEncodeError:  # a lone surrogate, from a server that let one through
        scrubbed = {
            name: value.encode(errors="replace").decode()
            for name in AccessEntry.__struct_fields__
            if isinstance(value := getattr(entry, name), str)
        }
        return _encode(msgspec.structs.replace(entry, **scrubbed))


def _text_line(stamp: str, entry: AccessEntry) -> bytes:
    values = " ".join(
        f"{name}={_text_value(getattr(entry, name))}" for name in AccessEntry.__struct_fields__
    )
    return f"{stamp} info  {LOGGER}: {MESSAGE} {values}\n".encode(errors="replace")


def _text_value(value: object) -> str:
    """A value as it is, unless it holds a line break or another control character."""
    text = str(value)
    return text if text.isprintable() else _encode(text).decode()
