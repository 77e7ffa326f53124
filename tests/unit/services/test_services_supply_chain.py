"""The supply-chain service in process (real SQLite and filesystem storage): a layer is
indexed once and again only for a newer indexer; ``index_and_attach`` (the on-push entry
point) attaches both SBOMs unless the project turned it off."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec

from dockyard.auth.grants import SYSTEM
from dockyard.auth.principal import Principal
from dockyard.cli.common import with_registry
from dockyard.config.loader import load_settings
from dockyard.core.supplychain import model
from dockyard.services.registry import Registry
from support.layers import dpkg_status, tar_layer
from support.oci import make_image, sha256

ADMIN = Principal("admin", identity=SYSTEM)
SPDX, CDX = "application/spdx+json", "application/vnd.cyclonedx+json"


async def _once(data: bytes) -> Any:
    yield data


def run_with(tmp_path: Path, work: Callable[[Registry], Awaitable[Any]], **env: str) -> Any:
    root = {"REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": str(tmp_path), **env}
    return with_registry(load_settings(None, root), work)


async def push(registry: Registry, repository: str, layers: list[bytes]) -> str:
    image = make_image(layer_data=layers)
    for blob in (image.config, *image.layers):
        await registry.uploads.monolithic(ADMIN, repository, sha256(blob), _once(blob))
    await registry.manifests.put(
        ADMIN, repository, "v1", content_type=image.media_type, body=image.manifest, extra_tags=[]
    )
    return image.digest


async def referrer_types(registry: Registry, repository: str, digest: str) -> list[str]:
    index = await registry.listing.referrers(ADMIN, repository, digest, None)
    return sorted(m["artifactType"] for m in msgspec.json.decode(index)["manifests"])


def test_index_and_attach_and_the_project_switch(tmp_path: Path) -> None:
    layer = tar_layer({"var/lib/dpkg/status": dpkg_status([("zlib1g", "1:1.2.13")])})

    async def work(registry: Registry) -> tuple[list[str], list[str]]:
        assert registry.supply_chain is not None and registry.identity is not None
        await registry.identity.projects.create(ADMIN, "proj")
        on = await push(registry, "proj/on", [layer])
        attached = await registry.supply_chain.index_and_attach("proj/on", on)
        assert {a.packages for a in attached} == {1}
        # a retried job, the SBOM pushes themselves and the fallback index add nothing
        assert await registry.supply_chain.index_and_attach("proj/on", on) == []
        for sbom in attached:
            assert await registry.supply_chain.index_and_attach("proj/on", sbom.digest) == []
        fallback = await registry.manifests.get(ADMIN, "proj/on", on.replace(":", "-"))
        assert await registry.supply_chain.index_and_attach("proj/on", fallback.digest) == []
        await registry.identity.projects.create(ADMIN, "off")
        await registry.supply_chain.set_sbom_on_push(ADMIN, "off", False)
        off = await push(registry, "off/app", [layer])
        assert await registry.supply_chain.index_and_attach("off/app", off) == []
        ghost = await push(registry, "ghost/app", [layer])  # no such project: on demand only
        assert await registry.supply_chain.index_and_attach("ghost/app", ghost) == []
        return await referrer_types(registry, "proj/on", on), await referrer_types(
            registry, "off/app", off
        )

    assert run_with(tmp_path, work) == ([SPDX, CDX], [])


def test_a_layer_is_indexed_once_and_again_for_a_newer_indexer(
    tmp_path: Path, monkeypatch: Any
) -> None:
    layer = tar_layer({"lib/apk/db/installed": b"P:musl\nV:1.2.4-r2\n\n"})
    calls: list[str] = []
    from dockyard.services.supplychain import indexer as indexer_module

    real = indexer_module.index_layer

    def counting(stream: Any, digest: str, limits: model.IndexLimits) -> model.LayerInventory:
        calls.append(digest)
        return real(stream, digest, limits)

    monkeypatch.setattr(indexer_module, "index_layer", counting)

    async def work(registry: Registry) -> None:
        assert registry.supply_chain is not None
        await push(registry, "a/one", [layer])
        await push(registry, "b/two", [layer])  # the same layer in another image
        for repository in ("a/one", "b/two", "a/one"):
            [image] = await registry.supply_chain.inventory(ADMIN, repository, "v1")
            assert [p.name for p in image.packages] == ["musl"]
        assert calls == [sha256(layer)]
        pulls = registry.manifests.pulls
        assert pulls is not None and pulls.pending == 0  # reading an inventory is no pull
        monkeypatch.setattr(indexer_module, "INDEXER_VERSION", model.INDEXER_VERSION + 1)
        await registry.supply_chain.inventory(ADMIN, "a/one", "v1")
        await registry.supply_chain.inventory(ADMIN, "a/one", "v1")
        assert calls == [sha256(layer)] * 2

    run_with(tmp_path, work)


def test_a_layer_missing_from_storage_is_reported_not_fatal(tmp_path: Path) -> None:
    kept = tar_layer({"lib/apk/db/installed": b"P:musl\nV:1.2.4-r2\n\n"})
    lost = tar_layer({"var/lib/dpkg/status": dpkg_status([("bash", "5.2")])})
    hexdigest = sha256(lost).split(":")[1]
    blob = tmp_path / "docker/registry/v2/blobs/sha256" / hexdigest[:2] / hexdigest / "data"

    async def work(registry: Registry) -> Any:
        assert registry.supply_chain is not None
        await push(registry, "a/lost", [kept, lost])
        blob.unlink()  # as for a foreign layer, or bytes removed by hand
        [image] = await registry.supply_chain.inventory(ADMIN, "a/lost", "v1")
        return image

    image = run_with(tmp_path, work)
    assert [(s.outcome, s.digest) for s in image.layers] == [
        ("indexed", sha256(kept)),
        ("missing", sha256(lost)),
    ]
    assert [p.name for p in image.packages] == ["musl"]


def test_the_sbom_libraries_load_on_first_use_not_at_start() -> None:
    """spdx-tools and cyclonedx-python-lib take seconds to import: building the registry
    (every command, every server worker) must not pay for them."""
    import subprocess
    import sys

    probe = (
        "import sys, dockyard.bootstrap, dockyard.api.mgmt.app; "
        "print(sorted(m for m in ('spdx_tools', 'cyclonedx') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "[]"


def test_a_push_becomes_one_sbom_job_that_attaches_both_sboms(tmp_path: Path) -> None:
    """SBOMs on push: the outbox consumer queues one job per pushed image (unique per digest,
    so reading the same events again queues nothing), and the job's handler attaches them."""
    from dockyard.core.delivery import OutboxPosition
    from dockyard.services.supplychain import on_push

    layer = tar_layer({"var/lib/dpkg/status": dpkg_status([("zlib1g", "1:1.2.13")])})

    async def work(registry: Registry) -> list[str]:
        assert registry.supply_chain is not None and registry.jobs is not None
        assert registry.background is not None and on_push.KIND in registry.background.kinds
        assert registry.identity is not None
        await registry.identity.projects.create(ADMIN, "proj")  # without a project: no SBOMs
        consumer = registry.background.work_loops["sbom-on-push"].__self__  # type: ignore[attr-defined]
        assert isinstance(consumer, on_push.SbomOnPush)
        digest = await push(registry, "proj/app", [layer])
        assert await consumer.catch_up() == 1, "one job for the pushed image"
        start = OutboxPosition()
        await consumer.cursors.advance(on_push.CONSUMER, await consumer.position(), start)
        assert await consumer.catch_up() == 0, "read again: the unique key keeps it single"
        job = await registry.jobs.claim([on_push.KIND])
        assert job is not None and job.payload == {"repository": "proj/app", "digest": digest}
        handler = on_push.sbom_handler(registry.supply_chain.index_and_attach)
        assert "2 SBOM(s) attached" in await handler(job)
        return await referrer_types(registry, "proj/app", digest)

    on = {"REGISTRY_DOCKYARD_IDENTITY_ENABLED": "true"}  # projects are identity management's
    assert run_with(tmp_path / "on", work, **on) == [SPDX, CDX]

    async def unregistered(registry: Registry) -> bool:
        assert registry.background is not None
        return "sbom-on-push" in registry.background.work_loops

    assert run_with(tmp_path / "off", unregistered) is False, "identity off: no SBOMs on push"
