"""JSON nesting depth, measured before a decoder (which would recurse) reads client input."""

from __future__ import annotations

import json
import random
from typing import Any

import msgspec
import pytest

from dockyard.core.jsondepth import MAX_JSON_DEPTH, JsonTooDeepError, check_json_depth


def nested(depth: int, leaf: Any = 1) -> Any:
    """A value ``depth`` levels deep: lists and objects taking turns around ``leaf``."""
    value = leaf
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


def depth_of(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((depth_of(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth_of(v) for v in value.values()), default=0)
    return 0


@pytest.mark.parametrize("depth", [1, 2, 5, MAX_JSON_DEPTH - 1, MAX_JSON_DEPTH])
def test_depth_up_to_the_limit_passes(depth: int) -> None:
    check_json_depth(json.dumps(nested(depth)).encode())


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 200, 1000, 100_000])
def test_deeper_than_the_limit_is_refused(depth: int) -> None:
    document = b"[" * depth + b"]" * depth
    with pytest.raises(JsonTooDeepError, match=f"deeper than {MAX_JSON_DEPTH} levels"):
        check_json_depth(document)


def test_an_empty_leaf_counts_as_a_level() -> None:
    check_json_depth(b"[" * 3 + b"]" * 3, limit=3)
    with pytest.raises(JsonTooDeepError):
        check_json_depth(b"[" * 4 + b"]" * 4, limit=3)
    with pytest.raises(JsonTooDeepError):
        check_json_depth(b'{"a":[{"b":{}}]}', limit=3)


def test_deep_value_inside_a_wide_document_is_found() -> None:
    wide = [nested(3) for _ in range(500)]
    check_json_depth(json.dumps(wide).encode())
    wide.insert(250, nested(MAX_JSON_DEPTH))
    with pytest.raises(JsonTooDeepError):
        check_json_depth(json.dumps(wide).encode())


def test_brackets_inside_strings_are_text() -> None:
    document = json.dumps({"a": "[" * 5000, "b": ["{" * 300 + '\\"' + "]" * 2], "c": "\\"})
    check_json_depth(document.encode())


def test_escaped_quotes_do_not_end_a_string() -> None:
    document = json.dumps({"a": 'x\\"' + "[" * 500}).encode()
    assert b'\\\\\\"' in document
    check_json_depth(document)


def test_unbalanced_text_is_measured_as_far_as_it_goes() -> None:
    check_json_depth(b"]" * 1000 + b"[")  # not JSON; the decoder says so, not the depth check
    with pytest.raises(JsonTooDeepError):
        check_json_depth(b"[" * 1000)  # a decoder would recurse before noticing the end


@pytest.mark.parametrize("depth", [3, 40, MAX_JSON_DEPTH, MAX_JSON_DEPTH + 1, 90])
def test_agrees_with_a_reference_measure(depth: int) -> None:
    value = {"layers": [nested(depth - 2)] * 3, "x": [[1], {"y": "]]]"}]}
    document = json.dumps(value).encode()
    assert depth_of(value) == depth
    if depth <= MAX_JSON_DEPTH:
        check_json_depth(document)
    else:
        with pytest.raises(JsonTooDeepError):
            check_json_depth(document)


def test_whatever_passes_decodes_without_recursion_error() -> None:
    document = json.dumps(nested(MAX_JSON_DEPTH)).encode()
    check_json_depth(document)
    assert msgspec.json.decode(document) is not None


def _random_value(rng: random.Random, depth: int) -> Any:
    if depth == 0 or rng.random() < 0.2:
        return rng.choice([1, "[{", "}]", None, [], {}])
    if rng.random() < 0.5:
        return [_random_value(rng, depth - 1) for _ in range(rng.randint(0, 3))]
    return {f"k{n}": _random_value(rng, depth - 1) for n in range(rng.randint(0, 3))}


@pytest.mark.parametrize("seed", range(40))
def test_random_documents_agree_with_the_reference_measure(seed: int) -> None:
    rng = random.Random(seed)
    value = [_random_value(rng, rng.randint(1, 12)) for _ in range(4)]
    document = json.dumps(value).encode()
    depth = depth_of(value)
    for limit in (depth - 1, depth, depth + 1):
        if limit >= depth:
            check_json_depth(document, limit=limit)
        else:
            with pytest.raises(JsonTooDeepError):
                check_json_depth(document, limit=limit)
