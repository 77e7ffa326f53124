"""``proxy.exec``: the cache's upstream credentials come from a Docker credential helper (a
real program, here a shell script) in front of Debian's docker-registry with HTTP Basic."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx

from e2e.clientkit import write_htpasswd
from support import registry2
from support.mirror import logged_registry, mirror_config
from support.oci import assert_oci_error, make_image, sha256
from support.server import serving


def _helper(path: Path, answer: Path, calls: Path) -> Path:
    """A helper printing the contents of ``answer``; each call appends the URL to ``calls``."""
    path.write_text(f'#!/bin/sh\nread url\necho "$1 $url" >> {calls}\ncat {answer}\n')
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_pulls_use_the_credentials_the_helper_prints(tmp_path: Path) -> None:
    htpasswd = write_htpasswd(tmp_path / "htpasswd", {"puller": "pull-pw"})
    answer, calls = tmp_path / "answer.json", tmp_path / "calls"
    answer.write_text('{"ServerURL": "x", "Username": "puller", "Secret": "pull-pw"}')
    helper = _helper(tmp_path / "docker-credential-test", answer, calls)
    image = make_image(layers=1, size=10_000)
    with logged_registry(tmp_path / "root", tmp_path, htpasswd=htpasswd) as upstream:
        with httpx.Client(base_url=upstream.url, timeout=30, auth=("puller", "pull-pw")) as c:
            registry2.push_image(c, "team/app", image, "v1")
        config = mirror_config(upstream.url).replace(
            f"  remoteurl: {upstream.url}\n",
            f"  remoteurl: {upstream.url}\n  exec:\n    command: {helper}\n    lifetime: 0s\n",
        )
        (tmp_path / "mirror").mkdir()
        with serving(tmp_path / "mirror", config=config) as mirror, mirror.client() as client:
            got = client.get("/v2/team/app/manifests/v1")
            assert got.status_code == 200 and got.content == image.manifest
            layer = client.get(f"/v2/team/app/blobs/{sha256(image.layers[0])}")
            assert layer.content == image.layers[0]
            assert "pull-pw" not in str(got.headers) + str(layer.headers)
            # the helper's answer changes: wrong credentials are refused by the upstream
            answer.write_text('{"Username": "puller", "Secret": "wrong"}')
            assert_oci_error(client.get("/v2/team/app/manifests/v1"), 403, "DENIED")
            # a helper that fails: 503, and the log says why
            answer.write_text("garbage")
            assert_oci_error(client.get("/v2/team/other/manifests/v1"), 503, "UNAVAILABLE")
            log = mirror.log()
    assert "printed no credentials" in log and "pull-pw" not in log
    assert calls.read_text().splitlines()[0] == f"get {upstream.url}"
