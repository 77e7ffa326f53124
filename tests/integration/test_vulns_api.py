"""Vulnerability findings against a real server with identity on: images and a multi-arch
index scanned on push by the server's job queue, an OSV database imported with the CLI while
the server runs (re-evaluation without reading any image again), findings per artifact and
platform as JSON and CSV, per repository, search by CVE limited to what the caller may pull,
the database's version in ``/api/v1``; bad input answered with the OCI error envelope."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.identity import Api, cli, identity_server
from support.layers import apk_installed, dist_info, dpkg_status, tar_layer
from support.oci import OCI_INDEX, assert_oci_error, descriptor, make_image
from support.oci import push_image as push
from support.osv import CRITICAL_V3, encode, record
from support.server import RunningServer

DEV, OUTSIDER = ("dev", "dev-password"), ("outsider", "outsider-password")
ZLIB = record("DEBIAN-CVE-2022-37434", "Debian:12", "zlib1g", fixed="1:1.2.13.dfsg-1",
              aliases=["CVE-2022-37434"], vector=CRITICAL_V3)  # fmt: skip
JINJA = record("GHSA-h5c8-rqwp-cp95", "PyPI", "jinja2", fixed="3.1.3",
               aliases=["CVE-2024-22195"], label="MODERATE")  # fmt: skip
MUSL = record("ALPINE-CVE-2025-26519", "Alpine:v3.21", "musl", fixed="1.2.5-r9",
              aliases=["CVE-2025-26519"], label="HIGH")  # fmt: skip
SITE = "usr/lib/python3/dist-packages"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, Path]]:
    workdir = tmp_path_factory.mktemp("vulns")
    env = {"REGISTRY_DOCKYARD_SUPPLYCHAIN_SCANONPUSH": "true"}
    with identity_server(workdir, **env) as running, Api(running) as admin:
        admin.user(*DEV)
        admin.user(*OUTSIDER)
        admin.project("vz")
        admin.member("vz", "dev", "developer")
        yield running, workdir / "data"


def findings(api: Api, repository: str, reference: str) -> dict[str, Any]:
    return dict(api.ok("GET", "/vulnerabilities/findings",
                       params={"repository": repository, "reference": reference}))  # fmt: skip


def wait_scanned(api: Api, repository: str, reference: str) -> dict[str, Any]:
    deadline = time.monotonic() + 90
    found = findings(api, repository, reference)
    while not found["scanned"] and time.monotonic() < deadline:
        time.sleep(0.5)
        found = findings(api, repository, reference)
    return found


def test_scan_on_push_then_an_import_finds_and_reports(
    server: tuple[RunningServer, Path], tmp_path: Path
) -> None:
    running, data = server
    web = make_image(layer_data=[tar_layer({
        "var/lib/dpkg/status": dpkg_status([("zlib1g", "1:1.2.11.dfsg-2"), ("bash", "5.2")]),
        f"{SITE}/Jinja2-3.1.2.dist-info/METADATA": dist_info("Jinja2", "3.1.2"),
    })])  # fmt: skip
    amd = make_image(
        layer_data=[tar_layer({"lib/apk/db/installed": apk_installed([("musl", "1.2.5-r8")])})]
    )
    arm = make_image(
        layer_data=[tar_layer({"lib/apk/db/installed": apk_installed([("musl", "1.2.5-r9")])})]
    )
    entries = [
        descriptor(amd.manifest, amd.media_type, platform={"os": "linux", "architecture": "amd64"}),
        descriptor(arm.manifest, arm.media_type, platform={"os": "linux", "architecture": "arm64"}),
    ]
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}).encode()
    with running.client(auth=DEV) as registry:
        push(registry, "vz/web", web, tag="v1")
        push(registry, "vz/multi", amd)
        push(registry, "vz/multi", arm)
        put = registry.put("/v2/vz/multi/manifests/v1", content=index,
                           headers={"Content-Type": OCI_INDEX})  # fmt: skip
        assert put.status_code == 201, put.text
    with Api(running, DEV) as dev:
        before = wait_scanned(dev, "vz/web", "v1")  # the job queue scanned it on push
        assert before["images"][0]["summary"]["total"] == 0 and before["database"] is None
        assert wait_scanned(dev, "vz/multi", "v1")["scanned"]

    feed = tmp_path / "osv"
    feed.mkdir()
    for item in (ZLIB, JINJA, MUSL):
        (feed / f"{item['id']}.json").write_bytes(encode(item))
    imported = json.loads(cli(data, {}, "vulndb", "import", str(feed)))
    assert (imported["added"], imported["changed"]) == (3, 2)

    with Api(running, DEV) as dev:
        report = findings(dev, "vz/web", "v1")
        [image] = report["images"]
        assert image["summary"]["critical"] == 1 and image["summary"]["medium"] == 1
        assert {f["package"]: f["fixed"] for f in image["findings"]} == {
            "zlib1g": "1:1.2.13.dfsg-1", "jinja2": "3.1.3",
        }  # fmt: skip
        assert report["database"]["advisories"] == 3
        multi = findings(dev, "vz/multi", "v1")
        verdicts = {i["platform"]: i["summary"]["high"] for i in multi["images"]}
        assert verdicts == {"linux/amd64": 1, "linux/arm64": 0}  # each platform on its own
        exported = dev.http.get("/vulnerabilities/findings", params={
            "repository": "vz/web", "reference": web.digest, "format": "csv"})  # fmt: skip
        assert exported.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(exported.text)))
        assert [r["severity"] for r in rows] == ["critical", "medium"]
        listed = dev.ok("GET", "/vulnerabilities/repository", params={"repository": "vz/multi"})
        by_subject = sorted(
            (i["subject"] == multi["digest"], i["platform"]) for i in listed["items"]
        )
        assert by_subject == [  # the children were pushed (and scanned) on their own too
            (False, ""),
            (False, ""),
            (True, "linux/amd64"),
            (True, "linux/arm64"),
        ]
        hits = dev.ok("GET", "/vulnerabilities/search", params={"id": "CVE-2025-26519"})
        assert sorted((h["subject"], h["platform"]) for h in hits["items"]) == sorted([
            (amd.digest, ""), (multi["digest"], "linux/amd64"),  # by digest, and in the index
        ])  # fmt: skip
        assert {h["repository"] for h in hits["items"]} == {"vz/multi"}
        database = dev.ok("GET", "/vulnerabilities/database")["database"]
        assert database["version"] == imported["database"]["version"]
        rescan = dev.ok("POST", "/vulnerabilities/scans", 201,
                        json={"repository": "vz/web", "reference": "v1"})  # fmt: skip
        assert rescan["items"][0]["summary"]["total"] == 2
    with Api(running, OUTSIDER) as outsider:  # may pull nothing in project vz
        assert outsider.ok("GET", "/vulnerabilities/search", params={"id": "CVE-2025-26519"}) == {
            "items": []
        }
        denied = outsider.http.get("/vulnerabilities/findings",
                                   params={"repository": "vz/web", "reference": "v1"})  # fmt: skip
        assert_oci_error(denied, 403, "DENIED")


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"repository": "vz/web"}, 400, "BAD_REQUEST"),
        ({"repository": "vz/web", "reference": "nope"}, 404, "MANIFEST_UNKNOWN"),
        ({"repository": "vz/web", "reference": "v1", "format": "xml"}, 400, "BAD_REQUEST"),
        ({"repository": "UPPER/case", "reference": "v1"}, 400, "NAME_INVALID"),
        ({"repository": "vz/web", "reference": "sha256:xyz"}, 404, "MANIFEST_UNKNOWN"),
    ],
)
def test_bad_requests_get_the_error_envelope(
    server: tuple[RunningServer, Path], params: dict[str, str], status: int, code: str
) -> None:
    running, _ = server
    with Api(running, DEV) as dev:
        assert_oci_error(dev.http.get("/vulnerabilities/findings", params=params), status, code)
        scan = dev.http.post("/vulnerabilities/scans", json={"repository": "vz/web"})
        assert_oci_error(scan, 400, "BAD_REQUEST")
        assert_oci_error(dev.http.get("/vulnerabilities/search"), 400, "BAD_REQUEST")
    with Api(running, None) as anonymous:
        refused = anonymous.http.get("/vulnerabilities/database")
        assert refused.status_code == 401


SCAN_REQUEST = "application/vnd.scanner.adapter.scan.request+json; version=1.1"
HARBOR_REPORT = "application/vnd.security.vulnerability.report; version=1.1"


def test_harbor_scanner_api_scans_and_reports(
    server: tuple[RunningServer, Path], tmp_path: Path
) -> None:
    """Harbor's side of the Pluggable Scanner API v1.2, played by an HTTP client: metadata,
    a scan request in the API's media type, polling until the report is there."""
    running, data = server
    image = make_image(layer_data=[tar_layer({
        f"{SITE}/Jinja2-3.1.2.dist-info/METADATA": dist_info("Jinja2", "3.1.2"),
    })])  # fmt: skip
    with running.client(auth=DEV) as registry:
        push(registry, "vz/harbor", image, tag="v1")
    (tmp_path / "jinja.json").write_bytes(encode(JINJA))
    cli(data, {}, "vulndb", "import", str(tmp_path / "jinja.json"))
    with Api(running, DEV) as dev:
        scanner = dev.http
        meta = scanner.get("/scanner/api/v1/metadata")
        assert meta.status_code == 200
        assert meta.headers["content-type"].startswith(
            "application/vnd.scanner.adapter.metadata+json"
        )
        [capability] = meta.json()["capabilities"]
        assert "application/vnd.oci.image.manifest.v1+json" in capability["consumes_mime_types"]
        assert HARBOR_REPORT in capability["produces_mime_types"]
        request = {
            "registry": {"url": running.url, "authorization": "Basic ignored"},
            "artifact": {"repository": "vz/harbor", "digest": image.digest, "tag": "v1",
                         "mime_type": "application/vnd.oci.image.manifest.v1+json"},
        }  # fmt: skip
        accepted = scanner.post("/scanner/api/v1/scan", content=json.dumps(request),
                                headers={"Content-Type": SCAN_REQUEST})  # fmt: skip
        assert accepted.status_code == 202, accepted.text
        scan_id = accepted.json()["id"]
        deadline, report = time.monotonic() + 90, scanner.get("/")
        while time.monotonic() < deadline:
            report = scanner.get(f"/scanner/api/v1/scan/{scan_id}/report",
                                 headers={"Accept": HARBOR_REPORT})  # fmt: skip
            if report.status_code != 302:
                break
            assert int(report.headers["refresh-after"]) > 0
            time.sleep(0.5)
        assert report.status_code == 200, report.text
        assert report.headers["content-type"] == HARBOR_REPORT
        body = report.json()
        assert body["scanner"]["name"] == "dockyard" and body["severity"] == "Medium"
        [item] = body["vulnerabilities"]
        assert (item["id"], item["package"], item["version"], item["fix_version"]) == (
            "CVE-2024-22195", "jinja2", "3.1.2", "3.1.3",
        )  # fmt: skip

        bad = dict(request, artifact=dict(request["artifact"], digest="sha256:" + "0" * 64))
        unknown = scanner.post("/scanner/api/v1/scan", content=json.dumps(bad),
                               headers={"Content-Type": SCAN_REQUEST})  # fmt: skip
        assert unknown.status_code == 422 and "message" in unknown.json()["error"]
        garbage = scanner.post("/scanner/api/v1/scan", content=b"{not json",
                               headers={"Content-Type": SCAN_REQUEST})  # fmt: skip
        assert garbage.status_code == 400 and unknown.json()["error"]["message"]
        assert scanner.get("/scanner/api/v1/scan/bm9wZQ/report").status_code == 404
        raw = scanner.get(
            f"/scanner/api/v1/scan/{scan_id}/report",
            headers={"Accept": "application/vnd.scanner.adapter.vuln.report.raw"},
        )
        assert raw.status_code == 501
    with Api(running, OUTSIDER) as outsider:
        refused = outsider.http.get(f"/scanner/api/v1/scan/{scan_id}/report")
        assert refused.status_code == 403 and refused.json()["error"]["message"]
    with Api(running, None) as anonymous:
        assert (
            anonymous.http.post(
                "/scanner/api/v1/scan",
                content=json.dumps(request),
                headers={"Content-Type": SCAN_REQUEST},
            ).status_code
            == 401
        )
