"""Inventories and SBOMs against a real server with identity on: layers indexed in order
(whiteouts count), SPDX and CycloneDX documents attached as referrers and read back through
the referrers API and the tag-schema fallback, validated by the formats' own libraries; one
SBOM per platform of an index; who may do what; bad input; the "SBOM on push" switch; the
``dockyard sbom generate`` command."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from spdx_tools.spdx.parser.json.json_parser import parse_from_file
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

from support.identity import ADMIN, Api, cli, identity_env, identity_server
from support.layers import dist_info, dpkg_status, tar_layer
from support.oci import OCI_INDEX, assert_oci_error, descriptor, make_image
from support.oci import push_image as push
from support.server import RunningServer, serving

READER, DEV = ("reader", "reader-password"), ("dev", "dev-password")
SPDX, CDX = "application/spdx+json", "application/vnd.cyclonedx+json"
PY = "usr/lib/python3/dist-packages/six-1.16.0.dist-info"


def layers() -> list[bytes]:
    base = tar_layer({
        "var/lib/dpkg/status": dpkg_status([("libc6", "2.36-9"), ("curl", "7.88.1-10")]),
        f"{PY}/METADATA": dist_info("six", "1.16.0"),
    })  # fmt: skip
    upper = tar_layer({
        "var/lib/dpkg/status": dpkg_status([("libc6", "2.36-9")]),
        f"{PY.rsplit('/', 1)[0]}/.wh.six-1.16.0.dist-info": b"",
        "opt/app/requests-2.31.0.dist-info/METADATA": dist_info("requests", "2.31.0"),
    })  # fmt: skip
    return [base, upper]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    workdir = tmp_path_factory.mktemp("supply-chain")
    with identity_server(workdir) as running, Api(running) as admin:
        admin.user(*READER)
        admin.user(*DEV)
        admin.project("sc")
        admin.member("sc", "reader", "guest")
        admin.member("sc", "dev", "developer")
        yield running


def names(image: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(p["ecosystem"], p["name"], p["version"]) for p in image["packages"]}


def referrers(client: httpx.Client, repo: str, digest: str) -> list[dict[str, Any]]:
    response = client.get(f"/v2/{repo}/referrers/{digest}")
    assert response.status_code == 200, response.text
    return list(response.json()["manifests"])


def document(client: httpx.Client, repo: str, referrer: str) -> bytes:
    manifest = client.get(
        f"/v2/{repo}/manifests/{referrer}",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
    ).json()
    return client.get(f"/v2/{repo}/blobs/{manifest['layers'][0]['digest']}").content


def test_inventory_applies_layers_in_order(server: RunningServer) -> None:
    image = make_image(layer_data=layers())
    with server.client(auth=DEV) as registry:
        push(registry, "sc/app", image, tag="v1")
    with Api(server, READER) as reader:
        query = {"repository": "sc/app", "reference": "v1"}
        found = reader.ok("GET", "/supply-chain/inventory", params=query)
    [only] = found["images"]
    assert only["digest"] == image.digest and only["platform"] == ""
    assert names(only) == {("deb", "libc6", "2.36-9"), ("pypi", "requests", "2.31.0")}
    assert [layer["outcome"] for layer in only["layers"]] == ["indexed", "indexed"]
    libc = next(p for p in only["packages"] if p["name"] == "libc6")
    assert libc["layer"] == descriptor(image.layers[1], "")["digest"]
    assert libc["purl"].startswith("pkg:deb/debian/libc6@2.36-9")


def test_sboms_attach_as_referrers_and_validate(server: RunningServer, tmp_path: Path) -> None:
    image = make_image(layer_data=layers())
    with server.client(auth=DEV) as registry:
        push(registry, "sc/sbom", image, tag="v1")
    with Api(server, DEV) as dev:
        made = dev.ok("POST", "/supply-chain/sboms", 201,
                      json={"repository": "sc/sbom", "reference": "v1"})  # fmt: skip
    assert {(s["format"], s["subject"], s["packages"]) for s in made["items"]} == {
        ("spdx", image.digest, 2),
        ("cyclonedx", image.digest, 2),
    }
    with server.client(auth=READER) as registry:
        found = referrers(registry, "sc/sbom", image.digest)
        assert {r["artifactType"] for r in found} == {SPDX, CDX}
        by_type = {r["artifactType"]: r["digest"] for r in found}
        spdx = document(registry, "sc/sbom", by_type[SPDX])
        cdx = document(registry, "sc/sbom", by_type[CDX])
        fallback = registry.get(
            f"/v2/sc/sbom/manifests/{image.digest.replace(':', '-')}",
            headers={"Accept": OCI_INDEX},
        )
    assert fallback.status_code == 200
    assert {m["digest"] for m in fallback.json()["manifests"]} == set(by_type.values())
    path = tmp_path / "sbom.spdx.json"
    path.write_bytes(spdx)
    parsed = parse_from_file(str(path))
    assert validate_full_spdx_document(parsed) == []
    assert {(p.name, p.version) for p in parsed.packages} >= {("libc6", "2.36-9"),
                                                              ("requests", "2.31.0")}  # fmt: skip
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(cdx.decode()) is None
    components = {c["name"]: c["purl"] for c in json.loads(cdx)["components"]}
    assert components["requests"] == "pkg:pypi/requests@2.31.0"


def test_an_index_gets_one_sbom_per_platform(server: RunningServer) -> None:
    amd, arm = make_image(layer_data=layers()[:1]), make_image(layer_data=layers())
    index = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [
            descriptor(amd.manifest, amd.media_type,
                       platform={"os": "linux", "architecture": "amd64"}),
            descriptor(arm.manifest, arm.media_type,
                       platform={"os": "linux", "architecture": "arm64", "variant": "v8"}),
        ],
    }).encode()  # fmt: skip
    with server.client(auth=DEV) as registry:
        for child in (amd, arm):
            push(registry, "sc/multi", child)
        put = registry.put("/v2/sc/multi/manifests/v1", content=index,
                           headers={"Content-Type": OCI_INDEX})  # fmt: skip
        assert put.status_code == 201
    with Api(server, DEV) as dev:
        made = dev.ok(
            "POST",
            "/supply-chain/sboms",
            201,
            json={"repository": "sc/multi", "reference": "v1", "formats": ["spdx"]},
        )
    assert {(s["platform"], s["subject"], s["packages"]) for s in made["items"]} == {
        ("linux/amd64", amd.digest, 3),
        ("linux/arm64/v8", arm.digest, 2),
    }
    with server.client(auth=DEV) as registry:
        for child in (amd, arm):
            assert [r["artifactType"] for r in referrers(registry, "sc/multi", child.digest)] == [
                SPDX
            ]


def test_a_hostile_layer_is_refused_and_the_rest_still_counts(server: RunningServer) -> None:
    bomb = b"\x28\xb5\x2f\xfd" + bytes(4096)  # zstd: not indexed yet
    image = make_image(layer_data=[layers()[0], bomb])
    with server.client(auth=DEV) as registry:
        push(registry, "sc/hostile", image, tag="v1")
    with Api(server, DEV) as dev:
        found = dev.ok("GET", "/supply-chain/inventory",
                       params={"repository": "sc/hostile", "reference": "v1"})  # fmt: skip
    [only] = found["images"]
    assert [layer["outcome"] for layer in only["layers"]] == ["indexed", "refused"]
    assert "zstd" in only["layers"][1]["detail"]
    assert ("deb", "curl", "7.88.1-10") in names(only)


def test_who_may_do_what_and_bad_input(server: RunningServer) -> None:
    with server.client(auth=DEV) as registry:
        push(registry, "sc/auth", make_image(layer_data=layers()[:1]), tag="v1")
    body = {"repository": "sc/auth", "reference": "v1"}
    with Api(server, READER) as reader, Api(server, DEV) as dev, Api(server, None) as anon:
        assert_oci_error(reader.http.post("/supply-chain/sboms", json=body), 403, "DENIED")
        assert anon.http.post("/supply-chain/sboms", json=body).status_code == 401
        wrong = dev.http.post("/supply-chain/sboms", json={**body, "formats": ["swid"]})
        assert_oci_error(wrong, 400, "BAD_REQUEST")
        missing = dev.http.post("/supply-chain/sboms", json={**body, "reference": "nope"})
        assert_oci_error(missing, 404, "MANIFEST_UNKNOWN")
        extra = dev.http.post("/supply-chain/sboms", json={**body, "evil": 1})
        assert_oci_error(extra, 400, "BAD_REQUEST")
        no_query = dev.http.get("/supply-chain/inventory", params={"repository": "sc/auth"})
        assert_oci_error(no_query, 400, "BAD_REQUEST")
        made = dev.ok("POST", "/supply-chain/sboms", 201, json={**body, "formats": ["spdx"]})
        sbom = made["items"][0]["digest"]
        artifact = dev.http.get("/supply-chain/inventory",
                                params={"repository": "sc/auth", "reference": sbom})  # fmt: skip
        assert_oci_error(artifact, 400, "BAD_REQUEST")


def test_sbom_on_push_setting(server: RunningServer) -> None:
    with Api(server) as admin, Api(server, DEV) as dev, Api(server, READER) as reader:
        assert reader.ok("GET", "/projects/sc/supply-chain") == {"sbomOnPush": True}
        assert_oci_error(
            dev.http.put("/projects/sc/supply-chain", json={"sbomOnPush": False}), 403, "DENIED"
        )
        assert admin.ok("PUT", "/projects/sc/supply-chain", json={"sbomOnPush": False}) == {
            "sbomOnPush": False
        }
        assert reader.ok("GET", "/projects/sc/supply-chain") == {"sbomOnPush": False}
        admin.ok("PUT", "/projects/sc/supply-chain", json={"sbomOnPush": True})
        changes = admin.ok("GET", "/audit", params={"event": "project.sbom_on_push"})["items"]
        assert [(e["target"], e["detail"]["enabled"]) for e in changes] == [
            ("project:sc", True),
            ("project:sc", False),
        ]
        assert_oci_error(admin.http.get("/projects/none/supply-chain"), 404, "NOT_FOUND")
        bad = admin.http.put("/projects/sc/supply-chain", json={"sbomOnPush": "yes"})
        assert_oci_error(bad, 400, "BAD_REQUEST")


def test_cli_generates_and_attaches(tmp_path: Path) -> None:
    env = identity_env()
    data = tmp_path / "data"
    cli(data, env, "user", "add", ADMIN[0], "--admin", "--password-stdin", stdin=ADMIN[1] + "\n")
    image = make_image(layer_data=layers())
    with serving(tmp_path, env=env, data_dir=data) as running:
        with Api(running) as admin:
            admin.project("cli")
        with running.client(auth=ADMIN) as registry:
            push(registry, "cli/app", image, tag="v1")
        out = cli(data, env, "sbom", "generate", "cli/app:v1", "--format", "cyclonedx")
        [line] = out.splitlines()
        assert json.loads(line)["format"] == "cyclonedx"
        with running.client(auth=ADMIN) as registry:
            assert [r["artifactType"] for r in referrers(registry, "cli/app", image.digest)] == [
                CDX
            ]


def test_a_push_gets_its_sboms_in_the_background(tmp_path: Path) -> None:
    """With "SBOM on push" on (the default for projects), a pushed image gets both SBOMs as
    referrers from the server's job queue, without asking."""
    env = {"REGISTRY_DOCKYARD_SUPPLYCHAIN_SBOMONPUSH": "true"}
    with identity_server(tmp_path, **env) as running, Api(running) as admin:
        admin.project("auto")
        image = make_image(layer_data=layers())
        with running.client(auth=ADMIN) as registry:
            push(registry, "auto/app", image, tag="v1")
            deadline, found = time.monotonic() + 90, []
            while len(found) < 2 and time.monotonic() < deadline:
                time.sleep(0.5)
                found = referrers(registry, "auto/app", image.digest)
    assert {r["artifactType"] for r in found} == {SPDX, CDX}
