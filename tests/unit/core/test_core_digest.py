"""Digest parsing and validation."""

from __future__ import annotations

import hashlib

import pytest

from dockyard.core.digest import Digest, digest_of, is_valid_digest, new_hasher, parse_digest
from dockyard.core.errors import ErrorCode, RegistryError

SHA256_HEX = hashlib.sha256(b"dockyard").hexdigest()
SHA512_HEX = hashlib.sha512(b"dockyard").hexdigest()


def test_parse_sha256() -> None:
    digest = parse_digest(f"sha256:{SHA256_HEX}")
    assert digest == Digest("sha256", SHA256_HEX)
    assert str(digest) == digest.text == f"sha256:{SHA256_HEX}"


def test_parse_sha512() -> None:
    digest = parse_digest(f"sha512:{SHA512_HEX}")
    assert digest.algorithm == "sha512"
    assert digest.hex == SHA512_HEX
    assert len(digest.hex) == 128


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(f"sha256:{SHA256_HEX.upper()}", id="upper-case-hex"),
        pytest.param(f"sha256:{SHA256_HEX[:-1]}A", id="one-upper-case-char"),
        pytest.param(f"SHA256:{SHA256_HEX}", id="upper-case-algorithm"),
        pytest.param(f"sha256:{SHA256_HEX[:-1]}", id="63-chars"),
        pytest.param(f"sha256:{SHA256_HEX}0", id="65-chars"),
        pytest.param(f"sha512:{SHA256_HEX}", id="sha512-with-sha256-length"),
        pytest.param(f"sha256:{SHA512_HEX}", id="sha256-with-sha512-length"),
        pytest.param(f"md5:{hashlib.md5(b'x').hexdigest()}", id="md5"),  # noqa: S324
        pytest.param(f"sha384:{hashlib.sha384(b'x').hexdigest()}", id="sha384"),
        pytest.param(f"blake3:{SHA256_HEX}", id="blake3"),
        pytest.param("", id="empty"),
        pytest.param("sha256", id="no-colon"),
        pytest.param("sha256:", id="no-encoded"),
        pytest.param(f":{SHA256_HEX}", id="no-algorithm"),
        pytest.param(SHA256_HEX, id="bare-hex"),
        pytest.param(f"sha256:{'g' * 64}", id="non-hex"),
        pytest.param(f"sha256::{SHA256_HEX}", id="double-colon"),
        pytest.param(f" sha256:{SHA256_HEX}", id="leading-space"),
        pytest.param(f"sha256:{SHA256_HEX} ", id="trailing-space"),
        pytest.param(f"sha256:{SHA256_HEX}\n", id="trailing-newline"),
        pytest.param(f"sha256:../{SHA256_HEX[3:]}", id="path-traversal"),
        pytest.param("garbage", id="garbage"),
        pytest.param("sha256:" + "0" * 10_000, id="huge"),
    ],
)
def test_invalid_digests_rejected(text: str) -> None:
    with pytest.raises(RegistryError) as info:
        parse_digest(text)
    assert info.value.code is ErrorCode.DIGEST_INVALID
    assert info.value.status == 400
    assert not is_valid_digest(text)


def test_error_detail_is_bounded() -> None:
    with pytest.raises(RegistryError) as info:
        parse_digest("x" * 5000)
    assert len(info.value.detail["digest"]) <= 200


def test_unknown_algorithm_names_the_supported_ones() -> None:
    with pytest.raises(RegistryError) as info:
        parse_digest(f"sha384:{hashlib.sha384(b'x').hexdigest()}")
    assert info.value.detail["supported"] == ["sha256", "sha512"]


def test_is_valid_digest() -> None:
    assert is_valid_digest(f"sha256:{SHA256_HEX}")
    assert is_valid_digest(f"sha512:{SHA512_HEX}")


def test_digest_of() -> None:
    empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert digest_of(b"") == Digest("sha256", empty)
    assert digest_of(b"dockyard", "sha512").hex == SHA512_HEX
    assert parse_digest(str(digest_of(b"abc"))) == digest_of(b"abc")


def test_new_hasher_streams() -> None:
    hasher = new_hasher("sha256")
    hasher.update(b"dock")
    hasher.update(b"yard")
    assert hasher.hexdigest() == SHA256_HEX


@pytest.mark.parametrize(
    "text",
    [
        "sha256:" + "a" * 64,
        "sha512:" + "0" * 128,
        "sha256:" + "A" * 64,
        "sha256:" + "a" * 63,
        "sha256:" + "a" * 65,
        "sha512:" + "a" * 64,
        "sha384:" + "a" * 96,
        "sha256:" + "a" * 64 + "\n",
        "sha256+b64:" + "a" * 64,
        "SHA256:" + "a" * 64,
        "sha256:" + "g" * 64,
        ":" + "a" * 64,
        "",
    ],
)
def test_is_valid_digest_agrees_with_parse_digest(text: str) -> None:
    """The one-regex check on the manifest GET path accepts exactly what parsing accepts."""
    try:
        parse_digest(text)
        parses = True
    except RegistryError:
        parses = False
    assert is_valid_digest(text) is parses
