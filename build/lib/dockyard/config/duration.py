"""Go-style durations ("168h", "1h30m", "500ms") as float seconds."""

from __future__ import annotations

import re

from dockyard.config.errors import ConfigError

_UNITS: dict[str, float] = {
    "ns": 1e-9,
    "us": 1e-6,
    "\u00b5s": 1e-6,  # micro sign
    "\u03bcs": 1e-6,  # greek mu
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)([a-z\u00b5\u03bc]+)")
_BARE_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def parse_duration(text: str) -> float:
    """Parse a Go duration (``"24h"``, ``"1h30m"``, ``"1.5s"``, ``"0"``) into seconds.

    A bare number (``"3600"``) is taken as seconds. An optional leading sign is
    accepted as Go does. Anything else raises :class:`ConfigError`.
    """
    raw = text.strip()
    sign = -1.0 if raw.startswith("-") else 1.0
    body = raw[1:] if raw[:1] in ("+", "-") else raw
    if _BARE_NUMBER.fullmatch(body):
        return sign * float(body)
    total = _sum_parts(body)
    if total is None:
        raise ConfigError(f'invalid duration "{text}" (use e.g. 10s, 1h30m, 168h)')
    return sign * total


def _sum_parts(body: str) -> float | None:
    """Sum ``<number><unit>`` pairs covering all of ``body``; None when it does not parse."""
    if not body:
        return None
    total = 0.0
    pos = 0
    for match in _PART.finditer(body):
        if match.start() != pos:
            return None
        factor = _UNITS.get(match.group(2))
        if factor is None:
            return None
        total += float(match.group(1)) * factor
        pos = match.end()
    return total if pos == len(body) else None


def checked_duration(key: str, text: str, *, optional: bool = False) -> float:
    """``text`` as seconds >= 0, or a ConfigError naming ``key`` (``optional``: "" is 0)."""
    if optional and not text.strip():
        return 0.0
    try:
        seconds = parse_duration(text)
    except ConfigError as exc:
        raise ConfigError(f"{key}: {exc.message}", key=key) from None
    if seconds < 0:
        raise ConfigError(f'{key}: duration must be at least zero, got "{text}"', key=key)
    return seconds
