"""Pure pieces of the web UI and of browsing: where a sign-in may send the browser, sizes
and times as shown, referrer kinds, and image configurations of any shape."""

from __future__ import annotations

import json

import pytest

from dockyard.services.browse.summary import image_config, platform_name, referrer_kind
from dockyard.ui.account import safe_next
from dockyard.ui.render import human_size, short_digest, utc_time


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/ui/repositories?q=a", "/ui/repositories?q=a"),
        ("/", "/"),
        ("//evil.example/x", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example/", "/"),
        ("javascript:alert(1)", "/"),
        ("", "/"),
        ("/ui/x\nSet-Cookie: a=b", "/"),
    ],
)
def test_safe_next(target: str, expected: str) -> None:
    assert safe_next(target) == expected


def test_sizes_and_times_as_shown() -> None:
    assert [human_size(n) for n in (0, 1023, 1024, 5 * 1024**3)] == [
        "0 B", "1023 B", "1.0 KiB", "5.0 GiB",
    ]  # fmt: skip
    assert human_size(None) == "-"
    assert utc_time(None) == "never" and utc_time(0) == "1970-01-01 00:00 UTC"
    assert short_digest("sha256:" + "a" * 64) == "sha256:aaaaaaaaaaaa"
    assert short_digest("garbage") == "garbage"


@pytest.mark.parametrize(
    ("artifact_type", "kind"),
    [
        ("application/vnd.dev.cosign.artifact.sig.v1+json", "signature"),
        ("application/vnd.cncf.notary.signature", "signature"),
        ("application/spdx+json", "sbom"),
        ("application/vnd.cyclonedx+json", "sbom"),
        ("application/vnd.in-toto+json", "attestation"),
        ("application/sarif+json", "scan report"),
        ("application/vnd.example.thing", "artifact"),
        ("", "artifact"),
    ],
)
def test_referrer_kinds(artifact_type: str, kind: str) -> None:
    assert referrer_kind(artifact_type) == kind


def test_image_configs_of_any_shape() -> None:
    assert image_config(b"not json") is None
    assert image_config(b"[1, 2]") is None
    odd = {"os": 5, "config": {"Env": "PATH=/x", "Entrypoint": ["/a", 1], "Labels": ["x"]},
           "history": [{"created_by": "RUN x", "empty_layer": "yes"}, "junk"]}  # fmt: skip
    config = image_config(json.dumps(odd).encode())
    assert config is not None
    assert config.os == "" and config.env == [] and config.entrypoint == ["/a", "1"]
    assert config.labels == {} and len(config.history) == 2
    assert config.history[0].created_by == "RUN x" and not config.history[0].empty_layer
    assert platform_name({"os": "linux", "architecture": "arm64", "variant": "v8"}) == (
        "linux/arm64/v8"
    )
    assert platform_name(None) == "unknown"
