"""How a file that grows by appends is kept in S3, and how it is composed into one object.

S3 objects are immutable and an unfinished multipart upload cannot be read, so a file written
through :class:`~dockyard.storage.driver.FileWriter` is stored as *segments*: one object per
writer (per PATCH request), named by the offset at which it starts::

    <key>                                   a plain object (published blob, put_content)
    <key>.segments/00000000000000000000     bytes [0, n0)        first append
    <key>.segments/00000000000000000000n0   bytes [n0, n0+n1)    next append, any node

A file is either a plain object or a run of segments (the plain object wins if a crash left
both). Its size is the length of the contiguous run of segments starting at offset 0; anything
after a gap or an overlap is garbage that the next writer deletes. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

SEGMENTS_SUFFIX = ".segments"
_OFFSET_DIGITS = 20

MIB = 1 << 20
GIB = 1 << 30
#: S3's smallest part (except the last one) and largest part or single copy.
MIN_PART = 5 * MIB
MAX_PART = 5 * GIB
MAX_PARTS = 10_000


def segments_dir(key: str) -> str:
    return key + SEGMENTS_SUFFIX


def segment_key(key: str, start: int) -> str:
    return f"{segments_dir(key)}/{start:0{_OFFSET_DIGITS}d}"


def segment_start(segment: str) -> int | None:
    """The offset encoded in a segment key, or None for a name that is not a segment."""
    name = segment.rsplit("/", 1)[-1]
    if len(name) != _OFFSET_DIGITS or not name.isdigit():
        return None
    return int(name)


@dataclass(frozen=True, slots=True)
class Segment:
    key: str
    start: int
    size: int

    @property
    def end(self) -> int:
        return self.start + self.size


@dataclass(frozen=True, slots=True)
class Segments:
    """The contiguous run from offset 0, and the keys that are not part of it."""

    run: tuple[Segment, ...]
    garbage: tuple[str, ...]

    @property
    def size(self) -> int:
        return self.run[-1].end if self.run else 0


def arrange(listed: Iterable[tuple[str, int]]) -> Segments:
    """Order listed ``(key, size)`` pairs by offset and keep the run that starts at 0."""
    found: list[Segment] = []
    garbage: list[str] = []
    for key, size in listed:
        start = segment_start(key)
        if start is None:
            garbage.append(key)
        else:
            found.append(Segment(key, start, size))
    found.sort(key=lambda s: s.start)
    run: list[Segment] = []
    for segment in found:
        expected = run[-1].end if run else 0
        if segment.start == expected:
            run.append(segment)
        else:
            garbage.append(segment.key)
    return Segments(tuple(run), tuple(garbage))


# composing -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Piece:
    """Bytes ``[start, end)`` of the object at ``key``."""

    key: str
    start: int
    end: int

    @property
    def size(self) -> int:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class Part:
    """One part of a multipart upload: copied server-side, or read and uploaded again."""

    pieces: tuple[Piece, ...]
    copy: bool

    @property
    def size(self) -> int:
        return sum(p.size for p in self.pieces)


def plan_parts(
    sources: Sequence[Piece], *, copy_chunk: int, merge_target: int, min_part: int = MIN_PART
) -> list[Part]:
    """Parts that concatenate ``sources``: copy what is large, re-upload and merge what is small.

    Every part but the last is at least ``min_part``. A source of ``min_part`` or more is copied
    server-side in chunks of ``copy_chunk`` to ``2 * copy_chunk``; smaller sources are merged
    (with the head of the next source when that one is large) into uploaded parts of at most
    about ``merge_target + 2 * min_part`` bytes, which bounds the memory a compose needs.
    """
    planner = _Planner(
        copy_chunk=max(copy_chunk, min_part), merge_target=merge_target, min_part=min_part
    )
    for source in sources:
        if source.size:
            planner.add(source)
    return planner.finish()


class _Planner:
    def __init__(self, *, copy_chunk: int, merge_target: int, min_part: int) -> None:
        self.copy_chunk = copy_chunk
        self.merge_target = max(merge_target, min_part)
        self.min_part = min_part
        self.parts: list[Part] = []
        self.pending: list[Piece] = []

    @property
    def pending_size(self) -> int:
        return sum(p.size for p in self.pending)

    def add(self, source: Piece) -> None:
        start = source.start
        if self.pending:
            need = self.min_part - self.pending_size
            if source.size - need >= self.min_part:
                self.pending.append(Piece(source.key, start, start + need))
                self._flush_pending()
                start += need
            else:
                self.pending.append(source)
                if self.pending_size >= self.merge_target:
                    self._flush_pending()
                return
        if source.end - start >= self.min_part:
            self._copy(Piece(source.key, start, source.end))
        else:
            self.pending.append(Piece(source.key, start, source.end))

    def _copy(self, piece: Piece) -> None:
        """Split evenly: every chunk is at least ``copy_chunk`` and less than twice that."""
        count = max(1, piece.size // self.copy_chunk)
        base, extra = divmod(piece.size, count)
        begin = piece.start
        for index in range(count):
            end = begin + base + (1 if index < extra else 0)
            self.parts.append(Part((Piece(piece.key, begin, end),), copy=True))
            begin = end

    def _flush_pending(self) -> None:
        self.parts.append(Part(tuple(self.pending), copy=False))
        self.pending = []

    def finish(self) -> list[Part]:
        if self.pending:
            self._flush_pending()
        return self.parts
