"""The layer indexer on fixtures in the published formats (pure: bytes in, inventory out)."""

from __future__ import annotations

import io
import shutil
import tarfile
from pathlib import Path

import pytest

from dockyard.core.supplychain.image import apply_layers
from dockyard.core.supplychain.layer import index_layer
from dockyard.core.supplychain.model import IndexLimits, LayerInventory, LayerRefusedError
from support.layers import (
    apk_installed,
    dist_info,
    dpkg_status,
    go_binary,
    go_modinfo,
    npm_lock_v3,
    rpmdb_sqlite,
    tar_layer,
)

LIMITS = IndexLimits()


def npm(name: str, version: str) -> bytes:
    return f'{{"name": "{name}", "version": "{version}"}}'.encode()


def index(data: bytes, digest: str = "sha256:" + "a" * 64, **limits: int) -> LayerInventory:
    bounds = IndexLimits(**limits) if limits else LIMITS
    return index_layer(io.BytesIO(data), digest, bounds)


def found(inventory: LayerInventory) -> set[tuple[str, str, str]]:
    return {(p.ecosystem, p.name, p.version) for p in inventory.packages}


def test_dpkg_status_lists_installed_packages_only() -> None:
    status = dpkg_status([("libc6", "2.36-9+deb12u4"), ("bash", "5.2.15-2+b2")])
    status += b"\n" + dpkg_status([("gone", "1.0")], status="deinstall ok config-files")
    inventory = index(tar_layer({"var/lib/dpkg/status": status}))
    assert found(inventory) == {("deb", "libc6", "2.36-9+deb12u4"), ("deb", "bash", "5.2.15-2+b2")}
    libc = next(p for p in inventory.packages if p.name == "libc6")
    assert libc.purl == "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64"
    assert libc.path == "var/lib/dpkg/status"
    assert inventory.sources == ("var/lib/dpkg/status",)


def test_distroless_status_d_files_each_hold_one_package() -> None:
    files = {
        "var/lib/dpkg/status.d/base-files": dpkg_status([("base-files", "12.4+deb12u5")]),
        "var/lib/dpkg/status.d/base-files.md5sums": b"0123 etc/issue\n",
        "var/lib/dpkg/status.d/tzdata": dpkg_status([("tzdata", "2024a-0+deb12u1")]),
    }
    inventory = index(tar_layer(files, compress=False))
    assert found(inventory) == {
        ("deb", "base-files", "12.4+deb12u5"),
        ("deb", "tzdata", "2024a-0+deb12u1"),
    }


def test_apk_installed_database() -> None:
    db = apk_installed([("musl", "1.2.4-r2"), ("busybox", "1.36.1-r15")])
    inventory = index(tar_layer({"lib/apk/db/installed": db}))
    assert found(inventory) == {("apk", "musl", "1.2.4-r2"), ("apk", "busybox", "1.36.1-r15")}
    assert next(p for p in inventory.packages if p.name == "musl").purl == (
        "pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64"
    )


def test_rpmdb_sqlite_headers_are_parsed() -> None:
    db = rpmdb_sqlite(
        [("bash", "5.1.8", "9.el9", None, "x86_64"), ("openssl", "3.0.7", "27.el9", 1, "x86_64")]
    )
    inventory = index(tar_layer({"var/lib/rpm/rpmdb.sqlite": db}))
    assert found(inventory) == {
        ("rpm", "bash", "5.1.8-9.el9"),
        ("rpm", "openssl", "1:3.0.7-27.el9"),
    }


def test_a_damaged_rpmdb_refuses_the_layer() -> None:
    with pytest.raises(LayerRefusedError, match="rpm sqlite"):
        index(tar_layer({"var/lib/rpm/rpmdb.sqlite": b"not a database at all" * 50}))


def test_python_dist_info_and_egg_info() -> None:
    files = {
        "usr/lib/python3/dist-packages/Requests-2.31.0.dist-info/METADATA": dist_info(
            "Requests", "2.31.0"
        ),
        "opt/app/lib/zope.interface-6.0.egg-info/PKG-INFO": dist_info("zope.interface", "6.0"),
        "opt/app/lib/README.dist-info": b"not metadata",
    }
    inventory = index(tar_layer(files))
    assert found(inventory) == {("pypi", "requests", "2.31.0"), ("pypi", "zope-interface", "6.0")}


def test_npm_lock_and_node_modules_manifests() -> None:
    files = {
        "app/package-lock.json": npm_lock_v3({"express": "4.18.2", "@types/node": "20.1.0"}),
        "app/node_modules/express/package.json": b'{"name": "express", "version": "4.18.2"}',
        "app/node_modules/@babel/core/package.json": npm("@babel/core", "7.23.0"),
        "app/node_modules/express/lib/package.json": b'{"name": "nested-not-a-package"}',
    }
    inventory = index(tar_layer(files))
    assert found(inventory) == {
        ("npm", "express", "4.18.2"),
        ("npm", "@types/node", "20.1.0"),
        ("npm", "@babel/core", "7.23.0"),
    }
    babel = next(p for p in inventory.packages if p.name == "@babel/core")
    assert babel.purl == "pkg:npm/%40babel/core@7.23.0"


def test_npm_lock_v1_and_a_crafted_deep_lock() -> None:
    v1 = b'{"lockfileVersion": 1, "dependencies": {"a": {"version": "1.0.0", "dependencies": '
    v1 += b'{"b": {"version": "2.0.0"}}}}}'
    deep = b'{"dependencies": ' + b'{"x": {"version": "1", "dependencies": ' * 5000
    deep += b"{}" + b"}}" * 5000 + b"}"
    files = {"one/package-lock.json": v1, "two/package-lock.json": deep}
    inventory = index(tar_layer(files))
    assert found(inventory) == {("npm", "a", "1.0.0"), ("npm", "b", "2.0.0")}
    assert set(inventory.sources) == set(files)


def test_go_build_info_blob_lists_modules_and_toolchain() -> None:
    modinfo = go_modinfo(
        "example.com/app", [("golang.org/x/net", "v0.17.0"), ("github.com/pkg/errors", "v0.9.1")]
    )
    binary = go_binary("go1.21.5", modinfo, pad=3 * 1024 * 1024)  # the blob crosses a chunk
    inventory = index(tar_layer({"usr/local/bin/app": binary}, executable=["usr/local/bin/app"]))
    assert found(inventory) == {
        ("golang", "golang.org/x/net", "v0.17.0"),
        ("golang", "github.com/pkg/errors", "v0.9.1"),
        ("golang", "stdlib", "v1.21.5"),
    }
    net = next(p for p in inventory.packages if p.name == "golang.org/x/net")
    assert net.purl == "pkg:golang/golang.org/x/net@v0.17.0"


def test_go_replacement_wins_and_old_layout_is_skipped() -> None:
    modinfo = (
        "mod\texample.com/app\tv1.0.0\t\n"
        "dep\texample.com/a\tv1.0.0\th1:x=\n=>\texample.com/fork\tv1.0.1\th1:y=\n"
    )
    old = b"\x7fELF" + b"\0" * 100 + b"\xff Go buildinf:" + bytes([8, 0]) + b"\0" * 64
    files = {"bin/new": go_binary("go1.22.0", modinfo), "bin/old": old}
    inventory = index(tar_layer(files, executable=list(files)))
    assert found(inventory) == {
        ("golang", "example.com/app", "v1.0.0"),
        ("golang", "example.com/fork", "v1.0.1"),
        ("golang", "stdlib", "v1.22.0"),
    }


@pytest.mark.skipif(shutil.which("skopeo") is None, reason="skopeo (a Go program) not installed")
def test_a_real_go_binary() -> None:
    """skopeo from Debian is a real Go executable: its build info names the toolchain."""
    binary = Path(shutil.which("skopeo") or "").read_bytes()
    inventory = index(
        tar_layer({"usr/bin/skopeo": binary}, compress=False, executable=["usr/bin/skopeo"])
    )
    assert [p.name for p in inventory.packages if p.ecosystem == "golang"] == ["stdlib"]
    assert inventory.packages[0].version.startswith("v1.")


def test_whiteouts_and_opaque_directories_are_recorded() -> None:
    files = {"usr/lib/python3/.wh.pkg-1.0.dist-info": b"", "opt/app/.wh..wh..opq": b""}
    inventory = index(tar_layer(files))
    assert inventory.whiteouts == ("usr/lib/python3/pkg-1.0.dist-info",)
    assert inventory.opaque == ("opt/app",)


def test_zstd_layers_are_refused_as_not_supported() -> None:
    with pytest.raises(LayerRefusedError, match="zstd"):
        index(b"\x28\xb5\x2f\xfd" + b"\0" * 100)


def test_garbage_is_refused_not_raised() -> None:
    with pytest.raises(LayerRefusedError, match="not a readable tar"):
        index(b"\x1f\x8b" + b"garbage" * 100)


def test_a_huge_package_database_is_refused() -> None:
    big = dpkg_status([("x", "1")]) + b"#" * 20_000
    with pytest.raises(LayerRefusedError, match="package files up to"):
        index(tar_layer({"var/lib/dpkg/status": big}), max_metadata_bytes=10_000)


def test_too_many_entries_is_refused() -> None:
    files = {f"f{n}": b"" for n in range(50)}
    with pytest.raises(LayerRefusedError, match="more than 20 entries"):
        index(tar_layer(files), max_entries=20)


def test_deep_and_long_paths_are_refused() -> None:
    deep = "/".join(["d"] * 40) + "/file"
    with pytest.raises(LayerRefusedError, match="deeper"):
        index(tar_layer({deep: b"x"}), max_path_depth=32)
    with pytest.raises(LayerRefusedError, match="characters"):
        index(tar_layer({"a" * 300: b"x"}), max_path_length=255)


def test_a_tar_bomb_is_refused_by_the_total_size() -> None:
    """A few KiB of gzip that expand to many MiB: the uncompressed total is bounded."""
    files = {f"zeros{n}": b"\0" * (1024 * 1024) for n in range(8)}
    layer = tar_layer(files)
    assert len(layer) < 100_000
    with pytest.raises(LayerRefusedError, match="bytes uncompressed"):
        index(layer, max_total_bytes=4 * 1024 * 1024)


def test_path_traversal_names_are_kept_inside_the_layer() -> None:
    status = dpkg_status([("evil", "1")])
    inventory = index(tar_layer({"../../var/lib/dpkg/status": status}))
    assert inventory.sources == ("var/lib/dpkg/status",)


def test_layers_applied_in_order_honour_whiteouts_and_rewrites() -> None:
    base = index(
        tar_layer(
            {
                "var/lib/dpkg/status": dpkg_status([("libc6", "2.36"), ("curl", "7.88")]),
                "usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA": dist_info(
                    "six", "1.16.0"
                ),
                "app/node_modules/left-pad/package.json": npm("left-pad", "1.3.0"),
            }
        ),
        digest="sha256:" + "1" * 64,
    )
    upper = index(
        tar_layer(
            {
                # apt-get remove curl rewrites the status file
                "var/lib/dpkg/status": dpkg_status([("libc6", "2.36")]),
                "usr/lib/python3/dist-packages/.wh.six-1.16.0.dist-info": b"",
                "app/.wh..wh..opq": b"",
                "app/node_modules/right-pad/package.json": npm("right-pad", "1.0.0"),
            }
        ),
        digest="sha256:" + "2" * 64,
    )
    packages = apply_layers([base, upper])
    assert {(p.name, p.layer[-1]) for p in packages} == {("libc6", "2"), ("right-pad", "2")}
    assert {p.name for p in apply_layers([base])} == {"libc6", "curl", "six", "left-pad"}


def test_an_entry_declaring_a_terabyte_is_refused_before_it_is_read() -> None:
    """A header claiming 1 TiB (the bytes never follow): the default total bound refuses it
    as soon as the header is seen."""
    header = tarfile.TarInfo("var/lib/big")
    header.size = 1 << 40
    raw = header.tobuf(format=tarfile.PAX_FORMAT) + b"\0" * 1024
    with pytest.raises(LayerRefusedError, match="bytes uncompressed"):
        index(raw)
