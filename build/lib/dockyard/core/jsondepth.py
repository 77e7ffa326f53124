"""How deeply a JSON document nests, measured before any decoder sees it.

JSON decoders (msgspec, the stdlib, PyJWT's) recurse once per level of nesting and raise
``RecursionError`` near Python's recursion limit (1000), which a request handler would turn into
a 500. Client input is therefore measured first and refused above :data:`MAX_JSON_DEPTH`; real
manifests nest four or five levels.

The measure is a few linear passes of C loops whatever the input (a crafted 4 MiB body of
brackets takes a few hundred milliseconds on a 2-core machine, a real manifest microseconds):
string literals are cut out (their brackets are text), only the brackets are kept as signed
steps (an opening bracket +1, a closing one -1) and :func:`itertools.accumulate` runs the sum,
whose values stay small ints (no allocation per bracket).
"""

from __future__ import annotations

import re
from array import array
from itertools import accumulate

MAX_JSON_DEPTH = 64
"""Levels of arrays and objects a client's JSON may nest (the top-level value is level 1)."""

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_ALL_BYTES = bytes(range(256))
_NOT_BRACKETS = bytes(b for b in _ALL_BYTES if b not in b"[]{}")
# A "[}" pair is the decoder's problem (invalid JSON, reported as such), not a depth question.
_TO_STEPS = bytes.maketrans(b"[]{}", b"\x01\xff\x01\xff")  # +1 / -1 as signed bytes
_LEAF = b"\x01\xff"


class JsonTooDeepError(ValueError):
    """JSON nested deeper than allowed."""


def check_json_depth(document: bytes, limit: int = MAX_JSON_DEPTH) -> None:
    """Raise :class:`JsonTooDeepError` when ``document`` nests deeper than ``limit``.

    Text that is not JSON is measured as far as its brackets go; a decoder reading it never
    goes deeper than the deepest point measured here, and reports the rest.
    """
    if document.count(b"[") + document.count(b"{") <= limit:
        return  # cannot be deeper than its number of opening brackets
    steps = _STRING.sub(b"", document).translate(_TO_STEPS, _NOT_BRACKETS)
    # Without its leaves ("[]", "{}" after the cuts) a document is exactly one level shallower.
    steps = steps.replace(_LEAF, b"")
    if b"\x01" * limit in steps:  # the plain attack, found without summing
        raise JsonTooDeepError(f"JSON nests deeper than {limit} levels")
    if steps and 1 + max(accumulate(array("b", steps))) > limit:
        raise JsonTooDeepError(f"JSON nests deeper than {limit} levels")
