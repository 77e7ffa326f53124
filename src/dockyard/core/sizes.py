"""Byte sizes as people write them: ``10GiB``, ``500MB``, ``1.5T``, ``1048576``."""

from __future__ import annotations

import re


class SizeError(ValueError):
    """Text that is not a byte size."""


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?)(b?)\s*$", re.IGNORECASE)
_POWERS = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4, "p": 5}


def parse_size(text: str) -> int:
    """Bytes in ``text``: a number with an optional unit. ``KB``/``MB``/``GB`` (and ``K``, ``M``,
    ``G``) are powers of 1000, ``KiB``/``MiB``/``GiB`` powers of 1024; case does not matter."""
    found = _SIZE.match(text)
    if found is None:
        raise SizeError(f'invalid size "{text}" (use e.g. 500MB, 10GiB, 1073741824)')
    number, prefix, binary, _ = found.groups()
    base = 1024 if binary else 1000
    return int(float(number) * base ** _POWERS[prefix.lower()])


def format_size(size: float) -> str:
    """``1.5 GiB``-style text for messages (binary units)."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"
