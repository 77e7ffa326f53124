"""The vulnerability service in process (real SQLite and filesystem storage): images pushed
with dpkg, apk and Python metadata, OSV records imported from a zip and a directory, scans
judging an index per platform, re-evaluation after an import (no image read again), search
by CVE and the summary other services use; the CLI on the same data."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from dockyard.api.lifecycle_metrics import LifecycleMetrics
from dockyard.auth.grants import SYSTEM
from dockyard.auth.principal import Principal
from dockyard.cli.common import with_registry
from dockyard.cli.main import main
from dockyard.config.loader import load_settings
from dockyard.core.errors import RegistryError
from dockyard.core.mediatypes import OCI_INDEX
from dockyard.jobs.vuln_metrics import publish_vuln_metrics
from dockyard.services.registry import Registry
from dockyard.services.vulns import export
from support.layers import apk_installed, dist_info, dpkg_status, tar_layer
from support.oci import make_image, make_index, sha256
from support.osv import CRITICAL_V3, encode, record

ADMIN = Principal("admin", identity=SYSTEM)
ZLIB = record("DEBIAN-CVE-2022-37434", "Debian:12", "zlib1g", fixed="1:1.2.13.dfsg-1",
              aliases=["CVE-2022-37434"], vector=CRITICAL_V3)  # fmt: skip
JINJA = record("GHSA-h5c8-rqwp-cp95", "PyPI", "Jinja2", fixed="3.1.3",
               aliases=["CVE-2024-22195"], label="MODERATE")  # fmt: skip
MUSL = record("ALPINE-CVE-2025-26519", "Alpine:v3.21", "musl", fixed="1.2.5-r9",
              aliases=["CVE-2025-26519"], label="HIGH")  # fmt: skip


async def _once(data: bytes) -> Any:
    yield data


def run_with(tmp_path: Path, work: Callable[[Registry], Awaitable[Any]]) -> Any:
    root = {"REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": str(tmp_path / "data")}
    return with_registry(load_settings(None, root), work)


async def push(registry: Registry, repository: str, layers: list[bytes], tag: str) -> Any:
    image = make_image(layer_data=layers)
    for blob in (image.config, *image.layers):
        await registry.uploads.monolithic(ADMIN, repository, sha256(blob), _once(blob))
    await registry.manifests.put(
        ADMIN, repository, tag, content_type=image.media_type, body=image.manifest, extra_tags=[]
    )
    return image


async def push_index(registry: Registry, repository: str, images: list[Any], tag: str) -> str:
    body = make_index(images)
    await registry.manifests.put(
        ADMIN, repository, tag, content_type=OCI_INDEX, body=body, extra_tags=[]
    )
    return sha256(body)


async def vuln_events(registry: Registry) -> list[tuple[str, str, str]]:
    assert registry.events is not None
    return [
        (e.event.kind.value, e.event.repository, e.event.target.digest)
        for e in await registry.events.after(0, 1000)
        if e.event.kind.value.startswith("vulnerability.")
    ]


async def withdraw_jinja(vulns: Any, tmp_path: Path) -> tuple[int, int]:
    """An import that only withdraws an advisory: the images it matched are counted again."""
    gone = dict(JINJA, withdrawn="2026-03-01T00:00:00Z", modified="2026-03-01T00:00:00Z")
    (tmp_path / "gone.json").write_bytes(encode(gone))
    report = await vulns.import_path(ADMIN, tmp_path / "gone.json")
    return report.counts.removed, report.changed


async def gauges(vulns: Any) -> str:
    """The Prometheus text of the vulnerability gauges (real metric table: a name missing
    from it raises)."""
    collector = CollectorRegistry()
    metrics = LifecycleMetrics(collector)
    await publish_vuln_metrics(vulns, metrics, set())
    return generate_latest(collector).decode()


def write_zip(path: Path, *records: dict[str, Any]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for item in records:
            archive.writestr(f"{item['id']}.json", encode(item))
    return path


def debian_python_layer() -> bytes:
    site = "usr/lib/python3/dist-packages"
    return tar_layer({
        "var/lib/dpkg/status": dpkg_status([("zlib1g", "1:1.2.13.dfsg-1"), ("bash", "5.2.15-2")]),
        f"{site}/Jinja2-3.1.2.dist-info/METADATA": dist_info("Jinja2", "3.1.2"),
    })  # fmt: skip


def test_scan_import_reevaluate_search_and_summary(tmp_path: Path) -> None:
    old_zlib = tar_layer({"var/lib/dpkg/status": dpkg_status([("zlib1g", "1:1.2.11.dfsg-2")])})
    musl_old = tar_layer({"lib/apk/db/installed": apk_installed([("musl", "1.2.5-r8")])})
    musl_new = tar_layer({"lib/apk/db/installed": apk_installed([("musl", "1.2.5-r10")])})
    feed = write_zip(tmp_path / "osv.zip", ZLIB, JINJA)
    later = tmp_path / "later"
    later.mkdir()
    (later / "alpine").mkdir()
    (later / "alpine" / "musl.json").write_bytes(encode(MUSL))

    async def work(registry: Registry) -> dict[str, Any]:
        vulns = registry.vulns
        assert vulns is not None
        # the upper layer rewrites dpkg's status: its zlib1g (vulnerable) is what counts
        web = await push(registry, "app/web", [debian_python_layer(), old_zlib], "v1")
        amd = await push(registry, "app/multi", [musl_old], "amd")
        arm = await push(registry, "app/multi", [musl_new], "arm")
        index = await push_index(registry, "app/multi", [amd, arm], "v1")
        [before] = await vulns.scan("app/web", web.digest)  # no database yet: nothing found
        assert (before.counts, before.db_version) == ((0, 0, 0, 0, 0), "")
        first = await vulns.import_path(ADMIN, feed)
        assert (first.counts.added, first.images) == (2, 1)
        judged = await vulns.scan("app/multi", index)
        assert sorted(s.platform for s in judged) == ["linux/arch0", "linux/arch1"]
        assert all(s.counts == (0, 0, 0, 0, 0) for s in judged)  # musl not in the database yet
        again = await vulns.import_path(ADMIN, feed)  # idempotent: nothing changes
        assert (again.counts.unchanged, again.changed, again.counts.state.version) == (
            2, 0, first.counts.state.version,
        )  # fmt: skip
        musl = await vulns.import_path(ADMIN, later)
        assert (musl.counts.added, musl.images, musl.changed) == (1, 3, 1)
        report = await vulns.report(ADMIN, "app/web", "v1")
        multi = await vulns.report(ADMIN, "app/multi", "v1")
        hits = await vulns.search(ADMIN, "CVE-2025-26519")
        return {
            "web": msgspec.to_builtins(export.report_json(report, 0.0)),
            "csv": export.report_csv(report),
            "multi": {i.summary.platform: i.summary.counts for i in multi.images},
            "multi_digest": index,
            "hits": [(h.repository, h.platform, h.image == amd.digest) for h in hits],
            "child": [s.counts for s in await vulns.findings_summary(arm.digest)],
            "events": await vuln_events(registry),
            "metrics": await gauges(vulns),
            "withdrawn": await withdraw_jinja(vulns, tmp_path),
            "web_after": (await vulns.findings_summary(web.digest))[0].counts,
        }

    found = run_with(tmp_path, work)
    [image] = found["web"]["images"]
    assert image["summary"] == {"critical": 1, "high": 0, "medium": 1, "low": 0, "unknown": 0,
                                "total": 2}  # fmt: skip
    by_package = {f["package"]: f for f in image["findings"]}
    assert by_package["zlib1g"]["installed"] == "1:1.2.11.dfsg-2"  # the upper layer's
    assert by_package["zlib1g"]["fixed"] == "1:1.2.13.dfsg-1"
    assert by_package["jinja2"]["aliases"] == ["CVE-2024-22195"]
    assert found["csv"].splitlines()[0].startswith("repository,subject,platform")
    assert len(found["csv"].splitlines()) == 3
    assert found["multi"] == {"linux/arch0": (0, 1, 0, 0, 0), "linux/arch1": (0, 0, 0, 0, 0)}
    assert found["hits"] == [("app/multi", "linux/arch0", True)]
    assert found["child"] == [(0, 0, 0, 0, 0)]  # a platform pulled alone: its own verdict
    metrics = found["metrics"]
    assert "registry_vulndb_advisories 3.0" in metrics
    assert "registry_vulnerability_images_scanned 3.0" in metrics  # web, amd and arm
    assert 'registry_vulnerability_findings{severity="critical"} 1.0' in metrics
    assert 'registry_vulnerability_findings{severity="high"} 1.0' in metrics
    assert f'registry_vulndb_info{{version="{found["web"]["database"]["version"]}"}} 1.0' in metrics
    assert found["events"] == [  # the import that found them; the second found nothing new
        ("vulnerability.found", "app/web", found["web"]["digest"]),
        ("vulnerability.found", "app/multi", found["multi_digest"]),
    ]
    assert found["withdrawn"] == (1, 1)
    assert found["web_after"] == (1, 0, 0, 0, 0)  # jinja2's medium finding is gone


def test_bad_imports_are_refused_and_store_nothing(tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "a.json").write_bytes(encode(ZLIB))
    (broken / "b.json").write_bytes(b'{"id": "X-1"}')  # no "modified"
    not_zip = tmp_path / "fake.zip"
    not_zip.write_bytes(b"PK\x03\x04 not really")

    async def work(registry: Registry) -> Any:
        vulns = registry.vulns
        assert vulns is not None
        for path in (broken, tmp_path / "missing", not_zip):
            with pytest.raises(RegistryError) as caught:
                await vulns.import_path(ADMIN, path)
            assert caught.value.code.name == "BAD_REQUEST"
        with pytest.raises(RegistryError) as denied:
            await vulns.import_path(Principal("nobody"), broken)
        assert denied.value.code.name in ("DENIED", "UNAUTHORIZED")
        return await vulns.database()

    assert run_with(tmp_path, work) is None  # nothing imported


def test_the_cli_imports_shows_and_searches(tmp_path: Path, capsys: Any) -> None:
    layer = debian_python_layer()

    async def work(registry: Registry) -> str:
        return str((await push(registry, "app/cli", [layer], "v1")).digest)

    digest = run_with(tmp_path, work)
    data = ["--data-dir", str(tmp_path / "data")]
    feed = write_zip(tmp_path / "osv.zip", JINJA)
    assert main(["vulns", "scan", "app/cli:v1", *data]) == 0
    assert main(["vulndb", "import", str(feed), *data]) == 0
    imported = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert (imported["added"], imported["changed"], imported["database"]["advisories"]) == (1, 1, 1)
    assert main(["vulns", "show", "app/cli:v1", *data]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["digest"] == digest and shown["images"][0]["summary"]["medium"] == 1
    assert main(["vulns", "show", f"app/cli@{digest}", "--format", "csv", *data]) == 0
    assert "GHSA-h5c8-rqwp-cp95" in capsys.readouterr().out
    assert main(["vulns", "search", "CVE-2024-22195", *data]) == 0
    assert json.loads(capsys.readouterr().out)["repository"] == "app/cli"
    assert main(["vulndb", "status", *data]) == 0
    assert json.loads(capsys.readouterr().out)["database"]["advisories"] == 1
    assert main(["vulndb", "import", str(tmp_path / "nothing-here"), *data]) == 1
    assert "import refused" in capsys.readouterr().err


def test_binary_packages_match_advisories_of_their_source(tmp_path: Path) -> None:
    """Debian and Alpine advisories name source packages: libssl3 (dpkg ``Source: openssl``)
    and libcrypto3 (apk origin ``o:openssl``) are matched by advisories for openssl."""
    status = (
        b"Package: libssl3\nStatus: install ok installed\nArchitecture: amd64\n"
        b"Source: openssl (3.0.11-1~deb12u1)\nVersion: 3.0.11-1~deb12u1\n\n"
        b"Package: openssl\nStatus: install ok installed\nArchitecture: amd64\n"
        b"Version: 3.0.11-1~deb12u1\n"
    )
    apk = b"P:libcrypto3\nV:3.1.4-r1\nA:x86_64\no:openssl\n\n"
    debian = record("DSA-5678-1", "Debian:12", "openssl", fixed="3.0.13-1~deb12u1",
                    aliases=["CVE-2024-0727"], label="HIGH")  # fmt: skip
    alpine = record("ALPINE-CVE-2024-0727", "Alpine:v3.19", "openssl", fixed="3.1.4-r5",
                    aliases=["CVE-2024-0727"], label="MEDIUM")  # fmt: skip
    feed = write_zip(tmp_path / "osv.zip", debian, alpine)

    async def work(registry: Registry) -> dict[str, list[tuple[str, str, str]]]:
        vulns = registry.vulns
        assert vulns is not None
        deb = await push(registry, "os/deb", [tar_layer({"var/lib/dpkg/status": status})], "v1")
        alp = await push(registry, "os/alp", [tar_layer({"lib/apk/db/installed": apk})], "v1")
        await vulns.scan("os/deb", deb.digest)
        await vulns.scan("os/alp", alp.digest)
        await vulns.import_path(ADMIN, feed)
        found = {}
        for repository in ("os/deb", "os/alp"):
            [image] = (await vulns.report(ADMIN, repository, "v1")).images
            found[repository] = sorted((f.package, f.advisory, f.fixed) for f in image.findings)
        return found

    assert run_with(tmp_path, work) == {
        "os/deb": [
            ("libssl3", "DSA-5678-1", "3.0.13-1~deb12u1"),
            ("openssl", "DSA-5678-1", "3.0.13-1~deb12u1"),
        ],
        "os/alp": [("libcrypto3", "ALPINE-CVE-2024-0727", "3.1.4-r5")],
    }
