"""Immutable tags: refused moves and deletes, decided inside the writing transaction."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from dockyard.auth.policy import AccessPolicy
from dockyard.auth.principal import Principal
from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.persistence.lifecycle_records import ImmutableTagError
from dockyard.persistence.records import NewManifest
from dockyard.persistence.sql import Database, SqlMetadata
from dockyard.persistence.sql.inventory import SqlInventory
from dockyard.persistence.sql.lifecycle import SqlLifecycleStore
from dockyard.services.lifecycle.immutability import ImmutabilityService, ImmutableRule
from dockyard.services.registry import RegistryOptions
from dockyard.services.registry.manifests import ManifestService

Run = Callable[[Awaitable[Any]], Any]
ADMIN = Principal("admin")
OCI = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"


def _manifest(
    seed: str, children: tuple[tuple[str, bytes, str], ...] = ()
) -> tuple[str, bytes, str]:
    if children:
        entries = ",".join(
            f'{{"mediaType":"{OCI}","digest":"{c[0]}","size":{len(c[1])}}}' for c in children
        )
        body = f'{{"schemaVersion":2,"mediaType":"{INDEX}","manifests":[{entries}]}}'
        return "sha256:" + hashlib.sha256(body.encode()).hexdigest(), body.encode(), INDEX
    body = f'{{"schemaVersion":2,"mediaType":"{OCI}","config":{{"mediaType":"x","digest":"sha256:{"0" * 64}","size":0}},"layers":[],"annotations":{{"s":"{seed}"}}}}'  # noqa: E501
    return "sha256:" + hashlib.sha256(body.encode()).hexdigest(), body.encode(), OCI


def _service(database: Database, rules: list[ImmutableRule]) -> ManifestService:
    store = SqlLifecycleStore(database)
    immutability = ImmutabilityService(store, SqlInventory(database), rules, ttl_seconds=0)
    options = RegistryOptions(delete_enabled=True)
    return ManifestService(
        SqlMetadata(database), AccessPolicy(authentication_required=False), options,
        immutability=immutability,
    )  # fmt: skip


async def _blob(database: Database) -> None:
    await SqlMetadata(database).commit_blob("prod/app", "sha256:" + "0" * 64, 0)


def _denied(error: pytest.ExceptionInfo[RegistryError], *words: str) -> None:
    assert error.value.code is ErrorCode.DENIED and error.value.status == 403
    for word in words:
        assert word in error.value.message, error.value.message


def test_immutable_tag_cannot_move_or_go(run: Run, database: Database) -> None:
    service = _service(database, [ImmutableRule("prod/**", "v*")])
    first, second = _manifest("one"), _manifest("two")

    async def main() -> None:
        await _blob(database)
        put = service.put
        await put(ADMIN, "prod/app", "v1", content_type=OCI, body=first[1], extra_tags=[])
        await put(ADMIN, "prod/app", "v1", content_type=OCI, body=first[1], extra_tags=[])
        with pytest.raises(RegistryError) as moved:
            await put(ADMIN, "prod/app", "v1", content_type=OCI, body=second[1], extra_tags=[])
        _denied(moved, 'tag "v1" of prod/app is immutable', 'tags "v*"', first[0])
        await put(ADMIN, "prod/app", "latest", content_type=OCI, body=second[1], extra_tags=[])
        await put(ADMIN, "prod/app", "latest", content_type=OCI, body=first[1], extra_tags=[])
        with pytest.raises(RegistryError) as untag:
            await service.delete(ADMIN, "prod/app", "v1")
        _denied(untag, "cannot be deleted")
        with pytest.raises(RegistryError) as by_digest:
            await service.delete(ADMIN, "prod/app", first[0])
        _denied(by_digest, f"manifest {first[0]} of prod/app carries the immutable tag")
        await service.delete(ADMIN, "prod/app", second[0])  # only ever tagged "latest"
        assert (await service.get(ADMIN, "prod/app", "v1")).digest == first[0]

    run(main())


def test_index_children_are_protected_by_the_index_tag(run: Run, database: Database) -> None:
    service = _service(database, [ImmutableRule("**", "release-*")])
    child = _manifest("child")
    index = _manifest("", (child,))

    async def main() -> None:
        await _blob(database)
        await service.put(ADMIN, "prod/app", child[0], content_type=OCI, body=child[1],
                          extra_tags=[])  # fmt: skip
        await service.put(ADMIN, "prod/app", "release-1", content_type=INDEX, body=index[1],
                          extra_tags=[])  # fmt: skip
        with pytest.raises(RegistryError) as error:
            await service.delete(ADMIN, "prod/app", child[0])
        _denied(error, "is listed by an index carrying the immutable tag")

    run(main())


def test_frozen_tag_is_checked_in_the_push_transaction(run: Run, metadata: SqlMetadata) -> None:
    one, two = _manifest("1"), _manifest("2")

    def new(digest: str, body: bytes) -> NewManifest:
        return NewManifest(digest, OCI, body, None, None, None, tags=("v1",), frozen_tags=("v1",))

    async def main() -> None:
        assert await metadata.put_manifest("r", new(one[0], one[1])) == []
        with pytest.raises(ImmutableTagError) as error:
            await metadata.put_manifest("r", new(two[0], two[1]))
        assert (error.value.tag, error.value.current) == ("v1", one[0])
        assert await metadata.manifest_by_digest("r", two[0]) is None, "rolled back"

    run(main())


def test_stored_rules_apply_after_the_cache(run: Run, database: Database) -> None:
    clock = [0.0]
    store = SqlLifecycleStore(database)
    service = ImmutabilityService(store, SqlInventory(database), [ImmutableRule("a/*", "x")],
                                  ttl_seconds=2, clock=lambda: clock[0])  # fmt: skip

    async def main() -> None:
        assert await service.frozen("dev/app", ["release-1", "main"]) == ()
        other = ImmutabilityService(store, SqlInventory(database))
        rule = await other.add_rule("dev/*", "release-*")
        assert await service.frozen("dev/app", ["release-1"]) == (), "cached for 2 s"
        clock[0] += 2
        assert await service.frozen("dev/app", ["release-1", "main"]) == ("release-1",)
        assert [r.id for r in await service.rules()] == [None, rule.id]
        assert await other.add_rule("dev/*", "release-*") == rule, "no duplicates"
        assert await other.remove_rule(rule.id or 0)
        assert not await other.remove_rule(rule.id or 0)
        with pytest.raises(ValueError, match="cannot contain /"):
            await other.add_rule("**", "a/b")

    run(main())
