"""The pull-through cache against difficult upstreams: a second dockyard with token auth whose
realm is on another port, a hostile server (wrong bytes, truncated bodies, 429), and the
outbound guard refusing an upstream where a server listens."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from e2e.clientkit import access_log, write_htpasswd
from support import registry2
from support.mirror import (
    HostileUpstream,
    Reply,
    hostile_upstream,
    logged_registry,
    mirror_config,
)
from support.oci import Image, assert_oci_error, make_image, push_image, sha256
from support.server import RunningServer, free_port, serving, start_server, stop_server

USERS = {"mirror": "mirror-pw", "pusher": "pusher-pw"}


def _token_env(htpasswd: Path, realm_port: int) -> dict[str, str]:
    return {
        "REGISTRY_AUTH": "htpasswd",
        "REGISTRY_AUTH_HTPASSWD_REALM": "upstream",
        "REGISTRY_AUTH_HTPASSWD_PATH": str(htpasswd),
        "REGISTRY_DOCKYARD_TOKEN_ENABLED": "true",
        "REGISTRY_DOCKYARD_TOKEN_REALM": f"http://127.0.0.1:{realm_port}/token",
    }


@pytest.fixture
def token_upstream(tmp_path: Path) -> Iterator[tuple[RunningServer, RunningServer]]:
    """A dockyard whose challenges name a realm on another port, where a second dockyard
    sharing its data directory (users, signing keys) issues the tokens."""
    htpasswd = write_htpasswd(tmp_path / "htpasswd", USERS)
    realm_port = free_port()
    env = _token_env(htpasswd, realm_port)
    (tmp_path / "registry").mkdir()
    (tmp_path / "realm").mkdir()
    registry = start_server(tmp_path / "registry", env=env)
    try:
        realm_dir = tmp_path / "realm"
        with serving(realm_dir, env=env, data_dir=registry.data_dir, port=realm_port) as realm:
            yield registry, realm
    finally:
        stop_server(registry)


def _push_with_token(registry: RunningServer, realm: RunningServer, repo: str, tag: str) -> Image:
    scope = f"repository:{repo}:pull,push"
    params = {"service": "dockyard", "scope": scope}
    answer = httpx.get(f"{realm.url}/token", params=params, auth=("pusher", USERS["pusher"]))
    assert answer.status_code == 200, answer.text
    headers = {"Authorization": f"Bearer {answer.json()['token']}"}
    image = make_image(layers=2)
    with httpx.Client(base_url=registry.url, headers=headers, timeout=30) as client:
        push_image(client, repo, image, tag)
    return image


def _with_credentials(config: str, password: str) -> str:
    return config.replace("proxy:\n", f"proxy:\n  username: mirror\n  password: {password}\n")


def _token_requests(server: RunningServer) -> int:
    return sum(1 for record in access_log(server) if record.get("path") == "/token")


def test_token_auth_with_the_realm_on_another_port(
    tmp_path: Path, token_upstream: tuple[RunningServer, RunningServer]
) -> None:
    registry, realm = token_upstream
    image = _push_with_token(registry, realm, "team/private", "v1")
    config = _with_credentials(mirror_config(registry.url), USERS["mirror"])
    issued_before = _token_requests(realm)
    (tmp_path / "mirror").mkdir()
    with serving(tmp_path / "mirror", config=config) as mirror, mirror.client() as client:
        got = client.get("/v2/team/private/manifests/v1")
        assert got.status_code == 200, got.text
        assert got.content == image.manifest
        assert "www-authenticate" not in got.headers
        for data in [image.config, *image.layers]:
            blob = client.get(f"/v2/team/private/blobs/{sha256(data)}")
            assert blob.status_code == 200 and blob.content == data
        assert client.get("/v2/team/private/tags/list").json()["tags"] == ["v1"]
        assert "mirror-pw" not in got.text and "authorization" not in got.headers
    assert _token_requests(realm) == issued_before + 1  # one token for the scope, reused
    assert _token_requests(registry) == 0  # the realm is on the other port


def test_wrong_upstream_credentials_are_a_403_not_a_challenge(
    tmp_path: Path, token_upstream: tuple[RunningServer, RunningServer]
) -> None:
    registry, _ = token_upstream
    config = _with_credentials(mirror_config(registry.url), "wrong")
    (tmp_path / "mirror").mkdir()
    with serving(tmp_path / "mirror", config=config) as mirror, mirror.client() as client:
        refused = client.get("/v2/team/private/manifests/v1")
        assert_oci_error(refused, 403, "DENIED")
        assert "www-authenticate" not in refused.headers


@pytest.fixture
def hostile(tmp_path: Path) -> Iterator[tuple[HostileUpstream, RunningServer]]:
    with hostile_upstream() as upstream:
        upstream.replies["/v2/"] = Reply(200, b"{}")
        (tmp_path / "mirror").mkdir()
        with serving(tmp_path / "mirror", config=mirror_config(upstream.url)) as mirror:
            yield upstream, mirror


def _stored(mirror: RunningServer, digest: str) -> bool:
    hex_ = digest.split(":", 1)[1]
    return (mirror.data_dir / "docker/registry/v2/blobs/sha256" / hex_[:2] / hex_ / "data").exists()


def _pull_expecting_abort(mirror: RunningServer, path: str) -> int:
    """GET ``path``; the connection must end before the body is complete. Bytes received."""
    received = 0
    with (
        httpx.Client(base_url=mirror.url, timeout=30) as client,
        pytest.raises(httpx.HTTPError),
        client.stream("GET", path) as response,
    ):
        assert response.status_code == 200
        for chunk in response.iter_raw():
            received += len(chunk)
    return received


def test_wrong_bytes_for_a_digest_are_never_cached_and_the_client_is_aborted(
    hostile: tuple[HostileUpstream, RunningServer],
) -> None:
    upstream, mirror = hostile
    good, bad = b"g" * 300_000, b"b" * 300_000
    path = f"/v2/evil/repo/blobs/{sha256(good)}"
    upstream.replies[path] = Reply(200, bad)
    received = _pull_expecting_abort(mirror, path)
    assert received < len(good)  # never the whole (wrong) body
    assert not _stored(mirror, sha256(good))
    assert "not cached: the bytes do not match the digest" in mirror.log()
    upstream.replies[path] = Reply(200, good)  # fixed upstream: fetched again, then cached
    with mirror.client() as client:
        assert client.get(path).content == good
    assert upstream.requests.count(f"GET {path}") == 2
    assert _stored(mirror, sha256(good))


def test_wrong_bytes_without_a_length_abort_the_client_too(
    hostile: tuple[HostileUpstream, RunningServer],
) -> None:
    upstream, mirror = hostile
    good, bad = b"g" * 300_000, b"b" * 300_000
    path = f"/v2/evil/unsized/blobs/{sha256(good)}"
    upstream.replies[path] = Reply(200, bad, announce=-1)
    assert _pull_expecting_abort(mirror, path) < len(good)
    assert not _stored(mirror, sha256(good))


def test_wrong_bytes_abort_the_client_under_uvicorn_too(tmp_path: Path) -> None:
    good, bad = b"g" * 300_000, b"b" * 300_000
    path = f"/v2/evil/uvicorn/blobs/{sha256(good)}"
    with hostile_upstream() as upstream:
        upstream.replies[path] = Reply(200, bad)
        (tmp_path / "mirror").mkdir()
        config = mirror_config(upstream.url)
        with serving(tmp_path / "mirror", config=config, server="uvicorn") as mirror:
            assert _pull_expecting_abort(mirror, path) < len(good)
            assert not _stored(mirror, sha256(good))


def test_a_truncated_upstream_answer_is_never_cached(
    hostile: tuple[HostileUpstream, RunningServer],
) -> None:
    upstream, mirror = hostile
    data = b"t" * 4_000_000
    path = f"/v2/evil/repo/blobs/{sha256(data)}"
    upstream.replies[path] = Reply(200, data[:3_000_000], announce=len(data))
    received = _pull_expecting_abort(mirror, path)  # some bytes were sent: the 200 is aborted
    assert 0 < received < 3_000_000
    assert not _stored(mirror, sha256(data))
    small = b"s" * 200_000  # truncated before anything reached the client: 503, an error body
    small_path = f"/v2/evil/repo/blobs/{sha256(small)}"
    upstream.replies[small_path] = Reply(200, small[:150_000], announce=len(small))
    with mirror.client() as client:
        assert_oci_error(client.get(small_path), 503, "UNAVAILABLE")
    assert not _stored(mirror, sha256(small))


def test_a_manifest_that_does_not_match_its_digest_is_refused(
    hostile: tuple[HostileUpstream, RunningServer],
) -> None:
    upstream, mirror = hostile
    image = make_image(layers=1)
    path = f"/v2/evil/repo/manifests/{image.digest}"
    upstream.replies[path] = Reply(200, image.manifest + b" ", {"Content-Type": image.media_type})
    with mirror.client() as client:
        assert_oci_error(client.get(path), 503, "UNAVAILABLE")
        upstream.replies.pop(path)
        assert_oci_error(client.get(path), 404, "MANIFEST_UNKNOWN")  # nothing was stored


def test_a_manifest_dockyard_cannot_parse_is_passed_on_uncached(
    hostile: tuple[HostileUpstream, RunningServer],
) -> None:
    upstream, mirror = hostile
    body = b'{"schemaVersion": 1, "name": "old/image", "tag": "v1", "fsLayers": []}'
    schema1 = "application/vnd.docker.distribution.manifest.v1+prettyjws"
    path = f"/v2/old/image/manifests/{sha256(body)}"
    upstream.replies[path] = Reply(200, body, {"Content-Type": schema1})
    with mirror.client() as client:
        for _ in range(2):
            got = client.get(path)
            assert got.status_code == 200 and got.content == body
            assert got.headers["content-type"] == schema1
    assert upstream.requests.count(f"GET {path}") == 2  # not cached


def test_an_oversized_manifest_is_refused_without_being_stored(
    hostile: tuple[HostileUpstream, RunningServer],
) -> None:
    upstream, mirror = hostile
    body = b'{"schemaVersion": 2, "pad": "' + b"x" * (5 * 1024 * 1024) + b'"}'
    path = f"/v2/evil/huge/manifests/{sha256(body)}"
    upstream.replies[path] = Reply(200, body, {"Content-Type": "application/json"})
    with mirror.client() as client:
        assert_oci_error(client.get(path), 503, "UNAVAILABLE")
        upstream.replies.pop(path)
        assert_oci_error(client.get(path), 404, "MANIFEST_UNKNOWN")


def test_a_429_upstream_is_a_429_with_retry_after_and_opens_the_circuit(
    hostile: tuple[HostileUpstream, RunningServer],
) -> None:
    upstream, mirror = hostile
    throttled = Reply(429, b'{"errors":[]}', {"Retry-After": "7"})
    digest = sha256(b"layer")
    upstream.replies["/v2/busy/repo/manifests/v1"] = throttled
    upstream.replies[f"/v2/busy/repo/blobs/{digest}"] = throttled
    with mirror.client() as client:
        first = client.get("/v2/busy/repo/manifests/v1")
        assert_oci_error(first, 429, "TOOMANYREQUESTS")
        assert first.headers["retry-after"] == "7"
        # the circuit is open for the upstream's Retry-After: the next request is not sent
        second = client.get(f"/v2/busy/repo/blobs/{digest}")
        assert_oci_error(second, 429, "TOOMANYREQUESTS")
        assert 1 <= int(second.headers["retry-after"]) <= 7
    assert upstream.requests == ["HEAD /v2/busy/repo/manifests/v1"]


def test_blob_redirects_are_followed_only_to_allowed_addresses(
    hostile: tuple[HostileUpstream, RunningServer],
) -> None:
    upstream, mirror = hostile
    data = b"r" * 100_000
    stored_at = f"/storage/{sha256(data)}"
    upstream.replies[stored_at] = Reply(200, data)
    redirected = f"/v2/team/redirected/blobs/{sha256(data)}"
    upstream.replies[redirected] = Reply(307, b"", {"Location": upstream.url + stored_at})
    metadata = f"/v2/team/metadata/blobs/{sha256(data)}"
    upstream.replies[metadata] = Reply(307, b"", {"Location": "http://169.254.169.254/latest"})
    with mirror.client() as client:
        assert client.get(redirected).content == data
        assert_oci_error(client.get(metadata), 503, "UNAVAILABLE")
    assert "outbound guard refused http://169.254.169.254" in mirror.log()


def test_the_guard_refuses_a_denied_upstream_without_connecting(tmp_path: Path) -> None:
    with hostile_upstream() as upstream:
        upstream.replies["/v2/library/alpine/manifests/latest"] = Reply(200, b"{}")
        config = mirror_config(upstream.url, allowed=False)  # loopback is private: denied
        (tmp_path / "mirror").mkdir()
        with serving(tmp_path / "mirror", config=config) as mirror, mirror.client() as client:
            refused = client.get("/v2/library/alpine/manifests/latest")
            assert_oci_error(refused, 503, "UNAVAILABLE")
            blob = client.get(f"/v2/library/alpine/blobs/{sha256(b'x')}")
            assert_oci_error(blob, 503, "UNAVAILABLE")
            log = mirror.log()
        assert upstream.connections == 0
        assert "a private or reserved address" in log


def test_basic_auth_upstream(tmp_path: Path) -> None:
    htpasswd = write_htpasswd(tmp_path / "htpasswd", {"mirror": USERS["mirror"]})
    with logged_registry(tmp_path / "root", tmp_path, htpasswd=htpasswd) as upstream:
        image = make_image(layers=1)
        with httpx.Client(base_url=upstream.url, auth=("mirror", USERS["mirror"])) as client:
            registry2.push_image(client, "team/basic", image, "v1")
        (tmp_path / "mirror").mkdir()
        config = _with_credentials(mirror_config(upstream.url), USERS["mirror"])
        with serving(tmp_path / "mirror", config=config) as mirror, mirror.client() as client:
            got = client.get("/v2/team/basic/manifests/v1")
            assert got.status_code == 200 and got.content == image.manifest
            layer = client.get(f"/v2/team/basic/blobs/{sha256(image.layers[0])}")
            assert layer.content == image.layers[0]
        (tmp_path / "anonymous").mkdir()
        anonymous = mirror_config(upstream.url)
        with serving(tmp_path / "anonymous", config=anonymous) as mirror, mirror.client() as client:
            refused = client.get("/v2/team/basic/manifests/v1")
            assert_oci_error(refused, 403, "DENIED")
            assert "www-authenticate" not in refused.headers


def test_credentials_are_not_sent_to_another_origin_on_a_redirect(tmp_path: Path) -> None:
    data = b"s" * 50_000
    with hostile_upstream() as upstream, hostile_upstream() as storage:
        storage.replies["/bucket/blob"] = Reply(200, data)
        path = f"/v2/team/app/blobs/{sha256(data)}"
        upstream.replies[path] = Reply(
            307, b"", {"Location": f"{storage.url}/bucket/blob"}, basic="mirror:pw"
        )
        (tmp_path / "mirror").mkdir()
        config = _with_credentials(mirror_config(upstream.url), "pw")
        with serving(tmp_path / "mirror", config=config) as mirror, mirror.client() as client:
            assert client.get(path).content == data
        sent = "Basic " + base64.b64encode(b"mirror:pw").decode()
        assert (path, sent) in upstream.authorizations
        assert storage.authorizations == [("/bucket/blob", "")]


def test_a_dockyard_upstream_and_its_referrers(tmp_path: Path) -> None:
    (tmp_path / "upstream").mkdir()
    (tmp_path / "mirror").mkdir()
    image = make_image(layers=1)
    subject = {"mediaType": image.media_type, "digest": image.digest, "size": len(image.manifest)}
    signature = make_image(layers=1, subject=subject, artifact_type="application/example.sig")
    with serving(tmp_path / "upstream") as upstream, upstream.client() as client:
        push_image(client, "team/signed", image, "v1")
        push_image(client, "team/signed", signature)
        config = mirror_config(upstream.url)
        with serving(tmp_path / "mirror", config=config) as mirror, mirror.client() as proxy:
            assert proxy.get("/v2/team/signed/manifests/v1").content == image.manifest
            index = proxy.get(f"/v2/team/signed/referrers/{image.digest}")  # signature not cached
            assert index.status_code == 200, index.text
            assert [m["digest"] for m in index.json()["manifests"]] == [signature.digest]
            other = {"artifactType": "application/other"}
            filtered = proxy.get(f"/v2/team/signed/referrers/{image.digest}", params=other)
            assert filtered.json()["manifests"] == []
            got = proxy.get(f"/v2/team/signed/manifests/{signature.digest}")
            assert got.content == signature.manifest


def test_a_token_realm_on_a_refused_address_is_not_asked(
    hostile: tuple[HostileUpstream, RunningServer],
) -> None:
    upstream, mirror = hostile
    challenge = 'Bearer realm="http://169.254.169.254/token",service="hostile"'
    upstream.replies["/v2/team/app/manifests/v1"] = Reply(
        401, b"{}", {"WWW-Authenticate": challenge}
    )
    with mirror.client() as client:
        assert_oci_error(client.get("/v2/team/app/manifests/v1"), 503, "UNAVAILABLE")
    assert "outbound guard refused http://169.254.169.254" in mirror.log()
