"""Glob patterns for repository names and tags (immutability, retention, bulk deletion).

The syntax Harbor users know (doublestar):

- ``*``: any run of characters except ``/`` (``team-a/*`` matches ``team-a/web``, not
  ``team-a/x/y``)
- ``**``: any run of characters, ``/`` included (``team-a/**``: every repository under team-a)
- ``?``: one character except ``/``
- ``{a,b}``: one of the alternatives (``{latest,stable}``, ``v{1,2}.*``)
- anything else matches itself.

A pattern matches the whole name. Patterns compile once and are cached.
"""

from __future__ import annotations

import functools
import re

MAX_PATTERN_LENGTH = 512


class PatternError(ValueError):
    """A pattern that cannot be compiled (unbalanced braces, too long, empty)."""


def matches(pattern: str, name: str) -> bool:
    """True when ``name`` matches ``pattern`` as a whole."""
    return compile_pattern(pattern).fullmatch(name) is not None


def validate_pattern(pattern: str) -> str:
    """``pattern`` itself, or PatternError saying what is wrong with it."""
    compile_pattern(pattern)
    return pattern


@functools.lru_cache(maxsize=1024)
def compile_pattern(pattern: str) -> re.Pattern[str]:
    if not pattern:
        raise PatternError("empty pattern")
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise PatternError(f"pattern longer than {MAX_PATTERN_LENGTH} characters")
    return re.compile(_translate(pattern))


def _translate(pattern: str) -> str:
    out: list[str] = []
    index, depth = 0, 0
    while index < len(pattern):
        char = pattern[index]
        if pattern.startswith("**", index):
            out.append(".*")
            index += 2
            continue
        if char == "{":
            depth += 1
            out.append("(?:")
        elif char == "}" and depth:
            depth -= 1
            out.append(")")
        elif char == "," and depth:
            out.append("|")
        elif char in "{}":
            raise PatternError(f"unbalanced braces in {pattern!r}")
        else:
            out.append({"*": "[^/]*", "?": "[^/]"}.get(char) or re.escape(char))
        index += 1
    if depth:
        raise PatternError(f"unbalanced braces in {pattern!r}")
    return "".join(out)
