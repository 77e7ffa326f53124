"""Declared sizes of a manifest's references, and the refusal that names wrong ones."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from dockyard.config.validation import IndexCompleteness
from dockyard.core import mediatypes as mt
from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.core.manifest import parse_manifest
from dockyard.persistence.records import ReferenceSizeError, SizeMismatch
from dockyard.services.registry.manifest_checks import (
    declared_sizes,
    optional_children,
    size_refusal,
)


def digest(name: str) -> str:
    return "sha256:" + hashlib.sha256(name.encode()).hexdigest()


def desc(name: str, size: int, media_type: str = "application/octet-stream", **extra: Any) -> Any:
    return {"mediaType": media_type, "digest": digest(name), "size": size, **extra}


def image(*layers: tuple[str, int]) -> bytes:
    body = {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "config": desc("c", 3),
            "layers": [desc(n, s) for n, s in layers]}  # fmt: skip
    return json.dumps(body).encode()


def test_declared_sizes_of_an_image() -> None:
    parsed = parse_manifest(image(("a", 10), ("b", 20), ("a", 10)), "")
    assert declared_sizes(parsed) == ((digest("c"), 3), (digest("a"), 10), (digest("b"), 20))


def test_one_digest_with_two_sizes() -> None:
    parsed = parse_manifest(image(("a", 10), ("b", 20), ("a", 11)), "")
    with pytest.raises(RegistryError) as info:
        declared_sizes(parsed)
    assert info.value.code is ErrorCode.MANIFEST_INVALID
    assert info.value.message.startswith("layers[2]: size 11 differs from layers[0]'s 10")


def test_refusal_names_every_wrong_descriptor() -> None:
    parsed = parse_manifest(image(("a", 10), ("b", 20)), "")
    error = ReferenceSizeError([SizeMismatch(digest("b"), 20, 21), SizeMismatch(digest("c"), 3, 4)])
    refusal = size_refusal(parsed, error)
    assert refusal.code is ErrorCode.MANIFEST_INVALID
    assert refusal.message == (
        f"config: size 3 differs from the 4 bytes the registry holds for {digest('c')}"
    )
    assert refusal.detail == {"descriptors": [
        {"descriptor": "config", "digest": digest("c"), "size": 3, "stored": 4},
        {"descriptor": "layers[1]", "digest": digest("b"), "size": 20, "stored": 21},
    ]}  # fmt: skip


def test_optional_children_follow_the_rule() -> None:
    amd, arm = {"os": "linux", "architecture": "amd64"}, {"os": "linux", "architecture": "arm64"}
    index = json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": [
        desc("x", 5, mt.OCI_MANIFEST, platform=amd), desc("y", 5, mt.OCI_MANIFEST, platform=arm),
        desc("z", 5, mt.OCI_MANIFEST),
    ]}).encode()  # fmt: skip
    parsed = parse_manifest(index, "")
    assert optional_children(parsed, IndexCompleteness()) == frozenset()
    assert optional_children(parsed, IndexCompleteness("none")) == {
        digest("x"),
        digest("y"),
        digest("z"),
    }
    listed = IndexCompleteness("list", frozenset({("linux", "amd64")}))
    assert optional_children(parsed, listed) == {digest("y"), digest("z")}
    assert [where for where, _ in parsed.named_references()] == [
        "manifests[0]", "manifests[1]", "manifests[2]"
    ]  # fmt: skip
