"""How much of a file is in the page cache, as util-linux's ``fincore`` counts it (mincore:
looking does not read anything in, where a RWF_NOWAIT probe would start read-ahead)."""

from __future__ import annotations

import subprocess
from pathlib import Path


def resident_bytes(path: Path) -> int:
    """Bytes of ``path`` in the page cache."""
    out = subprocess.run(
        ["fincore", "--bytes", "--noheadings", "--output", "RES", str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(out.stdout.strip())
