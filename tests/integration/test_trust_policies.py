"""Trust policies against a real server with identity on: pulls (GET and HEAD) refused,
warned or allowed as policies and signatures change; cosign tag-scheme signatures, Sigstore
bundles and Notation envelopes stored as a client stores them; wrong keys, tampered payloads,
signatures for another digest and expired certificates refused; an index judged per platform;
the policy API's authorization and bad input; signature tags exempt from immutability."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.identity import ADMIN, Api, cli, identity_env, identity_server
from support.oci import (
    OCI_INDEX,
    OCI_MANIFEST,
    assert_oci_error,
    make_image,
    make_index,
    push_blob,
    sha256,
)
from support.oci import push_image as push
from support.server import RunningServer
from support.signing import (
    NOTATION,
    dsse_bundle,
    ec_key,
    make_ca,
    make_leaf,
    notation_cose,
    notation_jws,
    public_pem,
    simple_signing_payload,
)
from support.trusted import push_bundle, push_cosign_signature, push_notation, push_referrer

DEV = ("dev", "dev-password")
PROJECT = "tp"
KEY = ec_key()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with identity_server(tmp_path_factory.mktemp("trust")) as running, Api(running) as admin:
        admin.user(*DEV)
        admin.project(PROJECT)
        admin.member(PROJECT, "dev", "developer")
        yield running


def policy(
    name: str, signers: list[dict[str, Any]], *, mode: str = "enforce", repositories: str = "**"
) -> tuple[str, dict[str, Any]]:
    path = f"/projects/{PROJECT}/trust-policies/{name}"
    return path, {"signers": signers, "mode": mode, "repositories": repositories}


def key_signer(key: Any = KEY) -> dict[str, Any]:
    return {"kind": "key", "pem": public_pem(key), "name": "release key"}


def pull(client: httpx.Client, repo: str, reference: str, method: str = "GET") -> httpx.Response:
    accept = ", ".join((OCI_MANIFEST, OCI_INDEX))
    return client.request(method, f"/v2/{repo}/manifests/{reference}", headers={"Accept": accept})


def subject(image_manifest: bytes, media_type: str = OCI_MANIFEST) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": sha256(image_manifest), "size": len(image_manifest)}


def test_pulls_follow_the_policy_and_the_signatures(server: RunningServer) -> None:
    repo = f"{PROJECT}/app"
    image = make_image()
    with server.client(auth=DEV) as registry, Api(server) as admin:
        push(registry, repo, image, tag="v1")
        assert pull(registry, repo, "v1").status_code == 200  # no policy yet
        path, body = policy("release", [key_signer()])
        admin.ok("PUT", path, json=body)
        for method in ("GET", "HEAD"):
            refused = pull(registry, repo, "v1", method)
            assert refused.status_code == 403
        entry = assert_oci_error(pull(registry, repo, "v1"), 403, "DENIED")
        assert 'trust policy "release"' in entry["message"]
        assert "no signature found" in entry["message"]
        push_cosign_signature(registry, repo, image.digest, ec_key())  # someone else's key
        entry = assert_oci_error(pull(registry, repo, image.digest), 403, "DENIED")
        assert "does not verify" in entry["message"]
        push_cosign_signature(registry, repo, image.digest, KEY)
        assert pull(registry, repo, "v1").status_code == 200
        assert pull(registry, repo, image.digest, "HEAD").status_code == 200
        admin.ok("DELETE", path, 204)


def test_tampered_payload_and_other_digest_are_refused(server: RunningServer) -> None:
    repo = f"{PROJECT}/tamper"
    image, other = make_image(), make_image()
    with server.client(auth=DEV) as registry, Api(server) as admin:
        push(registry, repo, image, tag="v1")
        path, body = policy("tamper", [key_signer()], repositories="tamper")
        admin.ok("PUT", path, json=body)
        tampered = simple_signing_payload(image.digest, "registry.test/evil")
        push_cosign_signature(registry, repo, image.digest, KEY, payload=tampered)
        entry = assert_oci_error(pull(registry, repo, "v1"), 403, "DENIED")
        assert "does not verify" in entry["message"]
        # a valid signature of another image, stored under this image's signature tag
        push_cosign_signature(
            registry, repo, image.digest, KEY, payload=simple_signing_payload(other.digest)
        )
        entry = assert_oci_error(pull(registry, repo, "v1"), 403, "DENIED")
        assert f"not {image.digest}" in entry["message"]
        admin.ok("DELETE", path, 204)


def test_warn_and_audit_modes_let_the_pull_through(server: RunningServer) -> None:
    repo = f"{PROJECT}/warned"
    image = make_image()
    with server.client(auth=DEV) as registry, Api(server) as admin:
        push(registry, repo, image, tag="v1")
        path, body = policy("soft", [key_signer()], mode="warn", repositories="warned")
        admin.ok("PUT", path, json=body)
        warned = pull(registry, repo, "v1")
        assert warned.status_code == 200
        assert warned.headers["warning"].startswith("299 - \"trust policy 'soft'")
        path, body = policy("soft", [key_signer()], mode="audit", repositories="warned")
        admin.ok("PUT", path, json=body)
        audited = pull(registry, repo, "v1")
        assert audited.status_code == 200 and "warning" not in audited.headers
        events = admin.ok("GET", "/audit", params={"event": "pull.policy"})["items"]
        outcomes = {e["detail"]["outcome"] for e in events if e["target"].startswith(repo + "@")}
        assert outcomes == {"warn", "audit"}
        admin.ok("DELETE", path, 204)


def test_bundle_and_notation_referrers(server: RunningServer) -> None:
    repo = f"{PROJECT}/referred"
    ca = make_ca()
    leaf_key, leaf = make_leaf(ca, email="release@example.test")
    bundled, notarized, expired = make_image(), make_image(), make_image()
    with server.client(auth=DEV) as registry, Api(server) as admin:
        for n, image in enumerate((bundled, notarized, expired)):
            push(registry, repo, image, tag=f"v{n}")
        signers = [
            key_signer(),
            {"kind": "ca", "pem": ca.pem, "identities": ["email:release@example.test"]},
        ]
        path, body = policy("referred", signers, repositories="referred")
        admin.ok("PUT", path, json=body)
        push_bundle(registry, repo, subject(bundled.manifest), dsse_bundle(KEY, bundled.digest))
        target = subject(notarized.manifest)
        push_notation(registry, repo, target, notation_jws(leaf_key, [leaf], target))
        old_key, old_leaf = make_leaf(ca, email="release@example.test", expired=True)
        target = subject(expired.manifest)
        push_notation(registry, repo, target, notation_jws(old_key, [old_leaf], target))
        assert pull(registry, repo, "v0").status_code == 200
        assert pull(registry, repo, "v1").status_code == 200
        entry = assert_oci_error(pull(registry, repo, "v2"), 403, "DENIED")
        assert "expired" in entry["message"]
        cosed = make_image()
        push(registry, repo, cosed, tag="cose")
        target = subject(cosed.manifest)
        envelope = notation_cose(leaf_key, [leaf], target)
        push_referrer(registry, repo, target, artifact_type=NOTATION,
                      layer_type="application/cose", document=envelope)  # fmt: skip
        assert pull(registry, repo, "cose").status_code == 200
        admin.ok("DELETE", path, 204)


def test_an_index_is_judged_per_platform(server: RunningServer) -> None:
    repo = f"{PROJECT}/multi"
    amd, arm = make_image(), make_image()
    index = make_index([amd, arm])
    alone = make_image()
    with server.client(auth=DEV) as registry, Api(server) as admin:
        for image in (amd, arm):
            push(registry, repo, image)
        assert put_index(registry, repo, "v1", index).status_code == 201
        path, body = policy("multi", [key_signer()], repositories="multi")
        admin.ok("PUT", path, json=body)
        assert pull(registry, repo, "v1").status_code == 200  # the list itself is served
        for image in (amd, arm):  # each platform is judged when pulled
            assert_oci_error(pull(registry, repo, image.digest), 403, "DENIED")
        push_cosign_signature(registry, repo, sha256(index), KEY)  # signing the index
        for image in (amd, arm):
            assert pull(registry, repo, image.digest).status_code == 200
        push(registry, repo, alone, tag="alone")
        assert_oci_error(pull(registry, repo, "alone"), 403, "DENIED")
        admin.ok("DELETE", path, 204)


def put_index(client: httpx.Client, repo: str, tag: str, index: bytes) -> httpx.Response:
    return client.put(
        f"/v2/{repo}/manifests/{tag}", content=index, headers={"Content-Type": OCI_INDEX}
    )


def test_signature_artifacts_stay_readable_under_a_policy(server: RunningServer) -> None:
    repo = f"{PROJECT}/sigread"
    image = make_image()
    with server.client(auth=DEV) as registry, Api(server) as admin:
        push(registry, repo, image, tag="v1")
        signature = push_cosign_signature(registry, repo, image.digest, KEY)
        path, body = policy("sigread", [key_signer(ec_key())], repositories="sigread")
        admin.ok("PUT", path, json=body)
        assert_oci_error(pull(registry, repo, "v1"), 403, "DENIED")
        tag = image.digest.replace(":", "-") + ".sig"
        assert pull(registry, repo, tag).status_code == 200
        assert pull(registry, repo, signature).status_code == 200
        admin.ok("DELETE", path, 204)


def test_no_policy_for_other_repositories(server: RunningServer) -> None:
    image = make_image()
    with server.client(auth=DEV) as registry, Api(server) as admin:
        push(registry, f"{PROJECT}/free", image, tag="v1")
        path, body = policy("narrow", [key_signer()], repositories="only-this")
        admin.ok("PUT", path, json=body)
        assert pull(registry, f"{PROJECT}/free", "v1").status_code == 200
        admin.ok("DELETE", path, 204)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"signers": []}, "at least one signer"),
        ({"signers": [{"kind": "key", "pem": "nope"}]}, "PEM public key"),
        ({"signers": [{"kind": "gpg", "pem": "x"}]}, "use key or ca"),
        ({"signers": [{"kind": "key", "pem": "x", "extra": 1}]}, ""),
        ({"signers": [{"kind": "ca", "pem": "x"}], "mode": "loud"}, "mode must be"),
        ({"signers": [{"kind": "ca", "pem": "x"}], "repositories": "{a"}, ""),
        ({"signers": "x"}, ""),
    ],
)
def test_bad_policies_are_refused(
    server: RunningServer, body: dict[str, Any], fragment: str
) -> None:
    with Api(server) as admin:
        response = admin.http.put(f"/projects/{PROJECT}/trust-policies/bad", json=body)
    entry = assert_oci_error(response, 400, response.json()["errors"][0]["code"])
    assert fragment in entry["message"]
    with Api(server) as admin:
        names = [p["name"] for p in admin.ok("GET", f"/projects/{PROJECT}/trust-policies")["items"]]
    assert "bad" not in names


def test_who_may_manage_policies(server: RunningServer) -> None:
    path, body = policy("who", [key_signer()])
    with Api(server, DEV) as developer:
        assert_oci_error(developer.http.put(path, json=body), 403, "DENIED")
        listed = developer.ok("GET", f"/projects/{PROJECT}/trust-policies")
        assert isinstance(listed["items"], list)
    with Api(server, None) as anonymous:
        assert anonymous.http.put(path, json=body).status_code == 401
    with Api(server, ADMIN) as admin:
        missing = admin.http.put("/projects/nope/trust-policies/who", json=body)
        assert_oci_error(missing, 404, "NOT_FOUND")
        assert_oci_error(
            admin.http.delete(f"/projects/{PROJECT}/trust-policies/none"), 404, "NOT_FOUND"
        )
        first = admin.ok("PUT", path, json=body)
        second = admin.ok("PUT", path, json=body)
        assert second["revision"] == first["revision"] + 1
        assert json.dumps(second["signers"][0]["pem"]).startswith('"-----BEGIN PUBLIC KEY')
        admin.ok("DELETE", path, 204)
        openapi = admin.ok("GET", "/openapi.json")
        one = openapi["paths"]["/api/v1/projects/{project}/trust-policies/{name}"]
        assert {"put", "delete"} <= set(one)
        assert "get" in openapi["paths"]["/api/v1/projects/{project}/trust-policies"]


def eventually_status(client: httpx.Client, repo: str, reference: str, status: int) -> None:
    """Other processes' policy changes reach a node within its cache time (seconds)."""
    deadline = time.monotonic() + 30
    while pull(client, repo, reference).status_code != status:
        assert time.monotonic() < deadline, f"pull of {repo}:{reference} never became {status}"
        time.sleep(0.2)


def test_the_trust_command(server: RunningServer, tmp_path: Path) -> None:
    repo = f"{PROJECT}/cli"
    image = make_image()
    key_file = tmp_path / "cosign.pub"
    key_file.write_text(public_pem(KEY))
    env = identity_env()
    with server.client(auth=DEV) as registry:
        push(registry, repo, image, tag="v1")
        out = cli(server.data_dir, env, "trust", "set", PROJECT, "cli-policy",
                  "--key", str(key_file), "--repositories", "cli")  # fmt: skip
        assert json.loads(out)["signers"] == [
            {"kind": "key", "name": "cosign.pub", "identities": []}
        ]
        eventually_status(registry, repo, "v1", 403)
        listed = cli(server.data_dir, env, "trust", "list", PROJECT)
        assert "cli-policy" in [json.loads(line)["name"] for line in listed.splitlines()]
        push_cosign_signature(registry, repo, image.digest, KEY)
        assert pull(registry, repo, "v1").status_code == 200
        cli(server.data_dir, env, "trust", "remove", PROJECT, "cli-policy")
    with Api(server) as admin:
        names = [p["name"] for p in admin.ok("GET", f"/projects/{PROJECT}/trust-policies")["items"]]
    assert "cli-policy" not in names


def test_on_push_policies_refuse_tagging_an_unsigned_image(server: RunningServer) -> None:
    repo = f"{PROJECT}/gated"
    image = make_image()
    with server.client(auth=DEV) as registry, Api(server) as admin:
        path, body = policy("gated", [key_signer()], repositories="gated")
        admin.ok("PUT", path, json={**body, "onPush": True})
        for blob in (image.config, *image.layers):
            push_blob(registry, repo, blob)
        tagged = put_image(registry, repo, "v1", image.manifest)
        entry = assert_oci_error(tagged, 403, "DENIED")
        assert 'trust policy "gated"' in entry["message"]
        assert put_image(registry, repo, image.digest, image.manifest).status_code == 201
        push_cosign_signature(registry, repo, image.digest, KEY)  # the .sig tag is exempt
        assert put_image(registry, repo, "v1", image.manifest).status_code == 201
        assert pull(registry, repo, "v1").status_code == 200
        admin.ok("DELETE", path, 204)


def put_image(client: httpx.Client, repo: str, reference: str, manifest: bytes) -> httpx.Response:
    headers = {"Content-Type": OCI_MANIFEST}
    return client.put(f"/v2/{repo}/manifests/{reference}", content=manifest, headers=headers)
