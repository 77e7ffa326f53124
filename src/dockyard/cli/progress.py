"""Progress of a long CLI job on stderr: a bar with counts, bytes and rate on a terminal
(rich), a plain line every few seconds and at the end of each phase otherwise (logs, CI)."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, TextIO

from dockyard.services.progress import NO_PROGRESS, Progress

if TYPE_CHECKING:  # rich loads only when a bar is drawn (every command imports this module)
    from rich.progress import Progress as RichProgress
    from rich.progress import TaskID

PLAIN_EVERY = 5.0  # seconds between plain lines within a phase


def _size(count: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if count < 1000 or unit == "TB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count} B"


class PlainProgress:
    """One line per phase start, every ``PLAIN_EVERY`` seconds, and at its end."""

    def __init__(self, job: str, stream: TextIO | None = None) -> None:
        self.job = job
        self.stream = stream or sys.stderr
        self._label = ""
        self._items: int | None = None
        self._total: int | None = None
        self._done = self._bytes = 0
        self._started = self._last = 0.0

    def begin(self, label: str, items: int | None = None, total_bytes: int | None = None) -> None:
        self._label, self._items, self._total = label, items, total_bytes
        self._done = self._bytes = 0
        self._started = self._last = time.monotonic()
        self._line("started")

    def advance(self, items: int = 1, nbytes: int = 0) -> None:
        self._done += items
        self._bytes += nbytes
        if time.monotonic() - self._last >= PLAIN_EVERY:
            self._line("")

    def end(self) -> None:
        self._line("done")

    def _line(self, state: str) -> None:
        self._last = time.monotonic()
        parts = [f"{self.job}: {self._label}"]
        if self._items is not None:
            parts.append(f"{self._done}/{self._items}")
        if self._total is not None:
            parts.append(f"{_size(self._bytes)}/{_size(self._total)}")
        elapsed = self._last - self._started
        if self._bytes and elapsed > 0:
            parts.append(f"{_size(self._bytes / elapsed)}/s")
        if state:
            parts.append(state)
        print(" ".join(parts), file=self.stream, flush=True)


class BarProgress:
    """rich's bar: description, bar, done/total, bytes, rate, time left."""

    def __init__(self, job: str) -> None:
        self.job = job
        self._bar: RichProgress | None = None
        self._task: TaskID | None = None
        self._counted = False
        self._items: int | None = None
        self._done = 0

    def begin(self, label: str, items: int | None = None, total_bytes: int | None = None) -> None:
        from rich.console import Console  # noqa: PLC0415 - slow import, terminal only
        from rich.progress import (  # noqa: PLC0415
            BarColumn,
            DownloadColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )
        from rich.progress import Progress as RichProgress  # noqa: PLC0415

        self.end()
        self._counted = total_bytes is None
        self._items, self._done = items, 0
        columns = [TextColumn(f"{self.job}: {label}"), BarColumn()]
        if self._counted:
            columns.append(MofNCompleteColumn())
        else:
            columns += [TextColumn("{task.fields[count]}"), DownloadColumn(), TransferSpeedColumn()]
        self._bar = RichProgress(
            *columns, TimeRemainingColumn(), console=Console(stderr=True), transient=False
        )
        self._bar.start()
        total = items if self._counted else total_bytes
        self._task = self._bar.add_task(label, total=total, count=self._count())

    def _count(self) -> str:
        return f"{self._done}/{self._items}" if self._items is not None else str(self._done)

    def advance(self, items: int = 1, nbytes: int = 0) -> None:
        self._done += items
        if self._bar is not None and self._task is not None:
            step = items if self._counted else nbytes
            self._bar.update(self._task, advance=step, count=self._count())

    def end(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def progress_for(job: str, *, quiet: bool = False) -> Progress:
    """A bar when stderr is a terminal, plain lines otherwise; nothing with ``quiet``."""
    if quiet:
        return NO_PROGRESS
    return BarProgress(job) if sys.stderr.isatty() else PlainProgress(job)
