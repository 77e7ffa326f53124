"""How long-running work (backup, restore, export, import, gc, fsck) reports its progress.

Services call a :class:`Progress` they are given; the CLI draws it (a bar on a terminal,
plain lines otherwise), everything else passes :data:`NO_PROGRESS`.
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def begin(self, label: str, items: int | None = None, total_bytes: int | None = None) -> None:
        """A new phase: ``items`` things, ``total_bytes`` bytes in all (None: not known)."""
        ...

    def advance(self, items: int = 1, nbytes: int = 0) -> None: ...

    def end(self) -> None:
        """The phase is over."""
        ...


class _Silent:
    def begin(self, label: str, items: int | None = None, total_bytes: int | None = None) -> None:
        return None

    def advance(self, items: int = 1, nbytes: int = 0) -> None:
        return None

    def end(self) -> None:
        return None


NO_PROGRESS: Progress = _Silent()
