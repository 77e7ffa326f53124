"""Plain progress lines (what a log or CI sees when stderr is not a terminal)."""

from __future__ import annotations

import io

from dockyard.cli.progress import PlainProgress, progress_for
from dockyard.services.progress import NO_PROGRESS


def test_plain_lines_say_phase_counts_and_bytes() -> None:
    stream = io.StringIO()
    progress = PlainProgress("backup", stream)
    progress.begin("blobs", 3, 3_000_000)
    for _ in range(3):
        progress.advance(1, 1_000_000)
    progress.end()
    progress.begin("snapshot")
    progress.end()
    lines = stream.getvalue().splitlines()
    assert lines[0] == "backup: blobs 0/3 0 B/3.0 MB started"
    assert lines[1].startswith("backup: blobs 3/3 3.0 MB/3.0 MB ")
    assert lines[1].endswith(" done") and "/s" in lines[1]
    assert lines[2:] == ["backup: snapshot started", "backup: snapshot done"]


def test_quiet_and_not_a_terminal() -> None:
    assert progress_for("gc", quiet=True) is NO_PROGRESS
    assert isinstance(progress_for("gc"), PlainProgress)  # pytest captures stderr: no tty
