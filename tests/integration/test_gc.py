"""Online garbage collection through the CLI while a server keeps serving."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
from pathlib import Path

from support.oci import (
    OCI_INDEX,
    assert_oci_error,
    make_image,
    make_index,
    push_blob,
    push_image,
    sha256,
)
from support.server import DOCKYARD, RunningServer, serving

ENV = {"REGISTRY_STORAGE_DELETE_ENABLED": "true"}


def _gc(server: RunningServer, *args: str) -> subprocess.CompletedProcess[str]:
    command = [DOCKYARD, "gc", "--data-dir", str(server.data_dir), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def _blob_file(server: RunningServer, data: bytes) -> Path:
    hex_digest = sha256(data).removeprefix("sha256:")
    return (
        server.data_dir / "docker/registry/v2/blobs/sha256" / hex_digest[:2] / hex_digest / "data"
    )


def test_gc_reclaims_unreferenced_blobs_and_keeps_everything_referenced(tmp_path: Path) -> None:
    with serving(tmp_path, env=ENV) as server, server.client() as client:
        kept = make_image(layers=2)
        dropped = make_image(layer_data=[kept.layers[0], os.urandom(1024)])
        push_image(client, "gc/app", kept, tag="kept")
        push_image(client, "gc/app", dropped, tag="dropped")
        orphan = os.urandom(5000)
        push_blob(client, "gc/app", orphan)
        assert client.delete(f"/v2/gc/app/manifests/{dropped.digest}").status_code == 202

        young = _gc(server)
        assert young.returncode == 0, young.stderr
        assert "deleted 0 untagged manifests and 0 blobs" in young.stdout, "grace period"

        preview = _gc(server, "--dry-run", "--grace", "0s")
        assert "would delete 0 untagged manifests and 3 blobs" in preview.stdout, preview.stdout
        assert _blob_file(server, orphan).exists()

        result = _gc(server, "--grace", "0s")
        assert result.returncode == 0, result.stderr
        assert "and 3 blobs" in result.stdout, result.stdout
        for gone in (orphan, dropped.config, dropped.layers[1]):
            assert client.head(f"/v2/gc/app/blobs/{sha256(gone)}").status_code == 404
            assert not _blob_file(server, gone).exists()
        got = client.get("/v2/gc/app/manifests/kept")
        assert got.content == kept.manifest
        for blob in [kept.config, *kept.layers]:
            assert client.get(f"/v2/gc/app/blobs/{sha256(blob)}").content == blob
        again = _gc(server, "--grace", "0s")
        assert "and 0 blobs" in again.stdout


def test_gc_delete_untagged(tmp_path: Path) -> None:
    with serving(tmp_path, env=ENV) as server, server.client() as client:
        tagged, untagged = make_image(layers=1), make_image(layers=1)
        push_image(client, "gc/untagged", tagged, tag="v1")
        push_image(client, "gc/untagged", untagged)
        result = _gc(server, "--delete-untagged", "--grace", "0s")
        assert result.returncode == 0, result.stderr
        assert "deleted 1 untagged manifests and 2 blobs" in result.stdout, result.stdout
        assert client.get(f"/v2/gc/untagged/manifests/{untagged.digest}").status_code == 404
        assert client.get("/v2/gc/untagged/manifests/v1").content == tagged.manifest
        history = subprocess.run(
            [DOCKYARD, "retention", "history", "--data-dir", str(server.data_dir)],
            capture_output=True, text=True, timeout=60, check=True,
        ).stdout  # fmt: skip
        assert f"gc/untagged@{untagged.digest}\tuntagged\tgc --delete-untagged\t" in history
        assert f"deleted untagged manifest gc/untagged@{untagged.digest}" in result.stderr


def test_dry_run_counts_an_untagged_index_its_children_and_their_blobs(tmp_path: Path) -> None:
    """Deleting an untagged index leaves its children untagged and unlisted: the real run
    deletes them too, and the dry run says so (manifests, then blobs, with bytes)."""
    with serving(tmp_path, env=ENV) as server, server.client() as client:
        children = [make_image(layers=1), make_image(layers=1)]
        for child in children:
            push_image(client, "gc/multi", child)
        index = make_index(children)
        put = client.put(f"/v2/gc/multi/manifests/{sha256(index)}", content=index,
                         headers={"Content-Type": OCI_INDEX})  # fmt: skip
        assert put.status_code == 201, put.text
        preview = _gc(server, "--dry-run", "--delete-untagged", "--grace", "0s")
        assert preview.returncode == 0, preview.stderr
        blobs = [b for child in children for b in (child.config, *child.layers)]
        summary = (
            f"3 untagged manifests and {len(blobs)} blobs ({sum(len(b) for b in blobs)} bytes)"
        )
        assert preview.stdout.splitlines()[-1] == f"would delete {summary}", preview.stdout
        assert f"would delete manifest gc/multi@{sha256(index)}" in preview.stdout
        result = _gc(server, "--delete-untagged", "--grace", "0s")
        assert result.stdout.strip() == f"deleted {summary}", result.stdout
        for child in children:
            assert client.get(f"/v2/gc/multi/manifests/{child.digest}").status_code == 404


def test_blob_reuploaded_after_gc_is_served(tmp_path: Path) -> None:
    with serving(tmp_path, env=ENV) as server, server.client() as client:
        data = os.urandom(3000)
        push_blob(client, "gc/again", data)
        assert "and 1 blobs" in _gc(server, "--grace", "0s").stdout
        assert client.head(f"/v2/gc/again/blobs/{sha256(data)}").status_code == 404
        push_blob(client, "gc/again", data)
        assert client.get(f"/v2/gc/again/blobs/{sha256(data)}").content == data
        assert _blob_file(server, data).exists()


def test_gc_refuses_bad_grace(tmp_path: Path) -> None:
    result = subprocess.run(
        [DOCKYARD, "gc", "--data-dir", str(tmp_path), "--grace", "soon"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 1 and "soon" in result.stderr


def test_gc_takes_the_arguments_of_registry_garbage_collect(tmp_path: Path) -> None:
    """``registry garbage-collect <config> -d -m``: the config file as an argument, short flags;
    ``--grace`` defaults to the config's ``dockyard.gc.grace``."""
    with serving(tmp_path, env=ENV) as server, server.client() as client:
        config = tmp_path / "gc.yml"
        config.write_text(
            "version: 0.1\nstorage:\n  filesystem:\n"
            f"    rootdirectory: {server.data_dir}\ndockyard:\n  gc:\n    grace: 0s\n"
        )
        tagged, untagged = make_image(layers=1), make_image(layers=1)
        push_image(client, "gc/flags", tagged, tag="v1")
        push_image(client, "gc/flags", untagged)
        command = [DOCKYARD, "garbage-collect", str(config)]
        preview = subprocess.run(
            [*command, "-d", "-m"], capture_output=True, text=True, check=False
        )
        assert preview.returncode == 0, preview.stderr
        lines = preview.stdout.splitlines()
        assert lines[0] == f"would delete manifest gc/flags@{untagged.digest}", preview.stdout
        listed = {line.split()[3] for line in lines if line.startswith("would delete blob ")}
        assert listed == {sha256(untagged.config), sha256(untagged.layers[0])}, preview.stdout
        assert client.get(f"/v2/gc/flags/manifests/{untagged.digest}").status_code == 200
        result = subprocess.run([*command, "-m"], capture_output=True, text=True, check=False)
        assert "deleted 1 untagged manifests and 2 blobs" in result.stdout, result.stdout
        assert lines[-1].replace("would delete", "deleted") == result.stdout.strip()
        assert client.get(f"/v2/gc/flags/manifests/{untagged.digest}").status_code == 404
        assert client.get("/v2/gc/flags/manifests/v1").content == tagged.manifest


def test_blob_collected_by_another_process_is_unknown_not_an_error(tmp_path: Path) -> None:
    """With ``blobdescriptor: inmemory`` the server still has the descriptor cached when
    ``dockyard gc`` (another process) deletes the bytes: a GET answers BLOB_UNKNOWN."""
    env = {**ENV, "REGISTRY_STORAGE_CACHE_BLOBDESCRIPTOR": "inmemory"}
    with serving(tmp_path, env=env) as server, server.client() as client:
        data = os.urandom(3000)
        push_blob(client, "gc/cached", data)
        assert client.get(f"/v2/gc/cached/blobs/{sha256(data)}").content == data  # cached now
        assert "and 1 blobs" in _gc(server, "--grace", "0s").stdout
        assert_oci_error(client.get(f"/v2/gc/cached/blobs/{sha256(data)}"), 404, "BLOB_UNKNOWN")
        push_blob(client, "gc/cached", data)
        assert client.get(f"/v2/gc/cached/blobs/{sha256(data)}").content == data


def _pinned_until(server: RunningServer, digest: str) -> float:
    path = server.data_dir / "dockyard" / "metadata.db"
    with contextlib.closing(sqlite3.connect(path)) as db:
        row = db.execute("SELECT pinned_until FROM blobs WHERE digest = ?", (digest,)).fetchone()
    return float(row[0])


def test_a_head_pins_a_blob_only_through_a_repository_that_links_it(tmp_path: Path) -> None:
    """HEAD is how a push asks "may I skip this layer?": it pins the blob against GC. Asked
    through a repository the blob is not linked into, it answers 404 and pins nothing, so
    pull access somewhere does not keep another repository's garbage alive."""
    with serving(tmp_path, env=ENV) as server, server.client() as client:
        data = os.urandom(2000)
        push_blob(client, "gc/private", data)
        push_blob(client, "gc/public", os.urandom(10))
        before = _pinned_until(server, sha256(data))
        assert client.head(f"/v2/gc/public/blobs/{sha256(data)}").status_code == 404
        assert client.head(f"/v2/gc/nowhere/blobs/{sha256(data)}").status_code == 404
        assert _pinned_until(server, sha256(data)) == before, "no pin from elsewhere"
        assert client.head(f"/v2/gc/private/blobs/{sha256(data)}").status_code == 200
        assert _pinned_until(server, sha256(data)) > before, "its own repository pins it"


def test_head_asks_the_database_not_a_stale_cache(tmp_path: Path) -> None:
    """``blobdescriptor: inmemory``: ``dockyard gc`` (another process) removes a blob from
    gc/first, then a push publishes the same bytes for gc/second. The server still caches
    "gc/first may read it", yet a HEAD through gc/first answers 404: HEAD's pin is checked
    against the repository's link in the database."""
    env = {**ENV, "REGISTRY_STORAGE_CACHE_BLOBDESCRIPTOR": "inmemory"}
    with serving(tmp_path, env=env) as server, server.client() as client:
        data = os.urandom(3000)
        push_blob(client, "gc/first", data)
        assert client.head(f"/v2/gc/first/blobs/{sha256(data)}").status_code == 200  # cached
        assert "and 1 blobs" in _gc(server, "--grace", "0s").stdout
        push_blob(client, "gc/second", data)
        assert client.head(f"/v2/gc/first/blobs/{sha256(data)}").status_code == 404
        assert client.head(f"/v2/gc/second/blobs/{sha256(data)}").status_code == 200
