"""Immutable tags against a real server: skopeo sees a clear refusal, rules change live."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx

from e2e.clientkit import Clients, OciLayout
from e2e.clientkit import make_image as make_layout_image
from support.oci import OCI_INDEX, assert_oci_error, make_image, make_index, push_image, sha256
from support.server import DOCKYARD, RunningServer, serving

CONFIG = """
version: 0.1
storage:
  delete:
    enabled: true
dockyard:
  immutability:
    rules:
      - repositories: "prod/**"
        tags: "v*"
"""


def _put(client: httpx.Client, repo: str, tag: str, manifest: bytes) -> httpx.Response:
    headers = {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}
    return client.put(f"/v2/{repo}/manifests/{tag}", content=manifest, headers=headers)


def _cli(server: RunningServer, *args: str) -> subprocess.CompletedProcess[str]:
    config = server.data_dir.parent / "config.yml"
    command = [
        DOCKYARD,
        "immutable",
        *args,
        "--config",
        str(config),
        "--data-dir",
        str(server.data_dir),
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)


def test_skopeo_cannot_overwrite_an_immutable_tag(tmp_path: Path) -> None:
    layout = OciLayout(tmp_path / "layout")
    first = make_layout_image([{"a.txt": b"first"}])
    second = make_layout_image([{"a.txt": b"second"}])
    layout.add_image(first, "first")
    layout.add_image(second, "second")
    clients = Clients(tmp_path / "clients")
    with serving(tmp_path, config=CONFIG) as server, server.client() as client:
        target = f"docker://127.0.0.1:{server.port}/prod/app:v1"
        flags = ["--dest-tls-verify=false"]
        clients.skopeo("copy", *flags, f"oci:{layout.path}:first", target)
        refused = clients.skopeo("copy", *flags, f"oci:{layout.path}:second", target, check=False)
        assert refused.returncode != 0
        assert "denied" in refused.stderr and "of prod/app is immutable" in refused.stderr
        clients.skopeo("copy", *flags, f"oci:{layout.path}:first", target)  # same digest: fine
        clients.skopeo("copy", *flags, f"oci:{layout.path}:second", target.replace(":v1", ":dev"))
        assert client.get("/v2/prod/app/manifests/v1").content == first.manifest
        assert_oci_error(client.delete("/v2/prod/app/manifests/v1"), 403, "DENIED")
        assert_oci_error(client.delete(f"/v2/prod/app/manifests/{first.digest}"), 403, "DENIED")
        assert client.delete("/v2/prod/app/manifests/dev").status_code == 202
        assert client.delete(f"/v2/prod/app/manifests/{second.digest}").status_code == 202


def test_rules_added_and_removed_while_serving(tmp_path: Path) -> None:
    with serving(tmp_path, config=CONFIG) as server, server.client() as client:
        one, two = make_image(layers=1), make_image(layers=1)
        push_image(client, "dev/app", one, tag="release-1")
        push_image(client, "dev/app", two)
        added = _cli(server, "add", "--repositories", "dev/*", "--tags", "release-*")
        assert "(#1)" in added.stdout
        listed = _cli(server, "list").stdout.splitlines()
        assert listed == ["config\tprod/**\tv*", "1\tdev/*\trelease-*"]
        deadline = time.monotonic() + 10
        while _put(client, "dev/app", "release-1", two.manifest).status_code != 403:
            assert time.monotonic() < deadline, "the new rule never applied"
            _put(client, "dev/app", "release-1", one.manifest)  # undo, and try again
            time.sleep(0.3)
        refused = _put(client, "dev/app", "release-1", two.manifest)
        assert "release-*" in assert_oci_error(refused, 403, "DENIED")["message"]
        _cli(server, "remove", "1")
        deadline = time.monotonic() + 10
        while _put(client, "dev/app", "release-1", two.manifest).status_code != 201:
            assert time.monotonic() < deadline, "the rule never went away"
            time.sleep(0.3)


def test_blobs_an_immutable_tag_needs_cannot_be_deleted(tmp_path: Path) -> None:
    frozen, child, loose = make_image(layers=1), make_image(layers=1), make_image(layers=1)
    index = make_index([child])
    with serving(tmp_path, config=CONFIG) as server, server.client() as client:
        push_image(client, "prod/app", frozen, tag="v1")
        push_image(client, "prod/app", child)  # untagged, but listed by the immutable v2
        headers = {"Content-Type": OCI_INDEX}
        assert client.put("/v2/prod/app/manifests/v2", content=index, headers=headers).is_success
        push_image(client, "prod/app", loose, tag="dev")
        push_image(client, "dev/app", frozen, tag="v1")  # no rule covers dev/**
        for blob, tag, keeper in (
            (frozen.layers[0], "v1", frozen.digest),
            (frozen.config, "v1", frozen.digest),
            (child.layers[0], "v2", sha256(index)),
        ):
            refused = client.delete(f"/v2/prod/app/blobs/{sha256(blob)}")
            entry = assert_oci_error(refused, 403, "DENIED")
            assert f'immutable tag "{tag}"' in entry["message"] and keeper in entry["message"]
            assert entry["detail"] == {"digest": sha256(blob)}
            assert client.get(f"/v2/prod/app/blobs/{sha256(blob)}").content == blob
        assert client.delete(f"/v2/prod/app/blobs/{sha256(loose.layers[0])}").status_code == 202
        assert client.delete(f"/v2/dev/app/blobs/{sha256(frozen.layers[0])}").status_code == 202
        missing = client.delete(f"/v2/prod/app/blobs/{sha256(b'never pushed')}")
        assert_oci_error(missing, 404, "BLOB_UNKNOWN")


SIGNATURE_RULES = """
version: 0.1
storage:
  delete:
    enabled: true
dockyard:
  immutability:
    rules:
      - repositories: "**"
        tags: "sha256-*"
      - repositories: "**"
        tags: "*"
"""


def test_signature_and_referrer_tags_are_exempt_from_immutability(tmp_path: Path) -> None:
    """cosign's ``sha256-<hex>.sig`` and the referrers fallback ``sha256-<hex>`` move with
    every signature added: rules that match them (``sha256-*``, ``*``) do not freeze them;
    other tags stay frozen."""
    from support.signing import ec_key
    from support.trusted import push_cosign_signature, push_referrer

    image = make_image()
    with serving(tmp_path, config=SIGNATURE_RULES) as server, server.client() as client:
        push_image(client, "app", image, tag="v1")
        for _ in range(2):  # the second signature moves the .sig tag
            push_cosign_signature(client, "app", image.digest, ec_key())
        subject = {"mediaType": image.media_type, "digest": image.digest,
                   "size": len(image.manifest)}  # fmt: skip
        fallback = image.digest.replace(":", "-")
        for n in range(2):  # the fallback index is rewritten for each referrer
            push_referrer(client, "app", subject, artifact_type="application/x-test",
                          layer_type="application/x-test", document=b"doc %d" % n)  # fmt: skip
            response = client.put(
                f"/v2/app/manifests/{fallback}",
                content=make_index([]) + b" " * n,  # another body each time: the tag moves
                headers={"Content-Type": OCI_INDEX},
            )
            assert response.status_code == 201, response.text
        deleted = client.delete(f"/v2/app/manifests/{fallback}")
        assert deleted.status_code == 202, deleted.text
        other = make_image()
        push_image(client, "app", other)
        moved = _put(client, "app", "v1", other.manifest)
        assert_oci_error(moved, 403, "DENIED")
