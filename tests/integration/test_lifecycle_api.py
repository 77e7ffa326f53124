"""Bulk deletion and quotas through ``/api/v1`` against a real server with identity on: the
preview lists exactly what the real run deletes, who may call what, bad input, the audit log
and the OpenAPI document."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from support.identity import ADMIN, Api, identity_server
from support.oci import assert_oci_error, make_image, push_image
from support.server import RunningServer

ALICE, BOB, CAROL = ("alice", "alice-password"), ("bob", "bob-password"), ("carol", "carol-pw!")
PR = {"repositories": "*", "tags": "pr-*", "grace": "0s"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    workdir = tmp_path_factory.mktemp("lifecycle-api")
    extra = {"REGISTRY_DOCKYARD_IMMUTABILITY_RULES": '[{"tags": "release-*"}]'}
    with identity_server(workdir, **extra) as running, Api(running) as admin:
        for name, password in (ALICE, BOB, CAROL):
            admin.user(name, password)
        for project in ("ci", "other"):
            admin.project(project)
        admin.member("ci", "alice", "admin")
        admin.member("ci", "bob", "maintainer")
        yield running


def _steps(body: dict[str, Any]) -> set[tuple[str, str, str, tuple[str, ...]]]:
    return {
        (s["action"], s["repository"], s["digest"], tuple(s["removed_tags"])) for s in body["items"]
    }


def test_preview_matches_the_real_run(server: RunningServer) -> None:
    only_pr, shared, frozen = make_image(layers=1), make_image(layers=1), make_image(layers=1)
    with server.client(auth=ADMIN) as registry:
        push_image(registry, "ci/app", only_pr, tag="pr-1")
        push_image(registry, "ci/app", shared, tag="pr-2")
        push_image(registry, "ci/app", shared, tag="latest")
        push_image(registry, "ci/app", frozen, tag="pr-3")
        push_image(registry, "ci/app", frozen, tag="release-3")
        push_image(registry, "other/app", make_image(layers=1), tag="pr-1")
    with Api(server, ALICE) as alice, Api(server) as admin:
        preview = alice.ok("POST", "/projects/ci/deletions/preview", json=PR)
        assert preview["dry_run"] is True and preview["manifests"] == 1 and preview["tags"] == 2
        assert _steps(preview) == {
            ("delete", "ci/app", only_pr.digest, ("pr-1",)),
            ("untag", "ci/app", shared.digest, ("pr-2",)),
            ("untag", "ci/app", frozen.digest, ("pr-3",)),
        }
        assert registry_tags(server, "ci/app") == ["latest", "pr-1", "pr-2", "pr-3", "release-3"]
        done = alice.ok("POST", "/projects/ci/deletions", json=PR)
        assert done["dry_run"] is False and _steps(done) == _steps(preview)
        assert done["selection"] == preview["selection"] == "dockyard delete --repo ci/* --tag pr-*"
        assert registry_tags(server, "ci/app") == ["latest", "release-3"]
        assert registry_tags(server, "other/app") == ["pr-1"], "another project: untouched"
        again = alice.ok("POST", "/projects/ci/deletions/preview", json=PR)
        assert again["items"] == [] and again["manifests"] == 0

        kept = alice.ok("POST", "/projects/ci/deletions/preview",
                        json={"tags": "release-*", "grace": "0s"})  # fmt: skip
        assert [(s["action"], s["digest"]) for s in kept["items"]] == [("keep", frozen.digest)]
        assert "immutable" in kept["items"][0]["reason"]

        events = admin.ok("GET", "/audit", params={"event": "images.delete"})["items"]
        assert [(e["actor"], e["target"]) for e in events] == [("alice", "project:ci")]
        assert events[0]["detail"]["manifests"] == 1 and events[0]["detail"]["tags"] == 2


def registry_tags(server: RunningServer, repository: str) -> list[str]:
    with server.client(auth=ADMIN) as registry:
        tags: list[str] = registry.get(f"/v2/{repository}/tags/list").json()["tags"]
        return sorted(tags)


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ({"repositories": "*"}, "select by"),
        ({"untagged": True, "tags": "x*"}, "select nothing together"),
        ({"older_than": "soon"}, "older_than"),
        ({"not_pulled_for": "-3d"}, "not_pulled_for"),
        ({"not_pulled_for": "-3h"}, "not_pulled_for must be above zero"),
        ({"untagged": True, "grace": "-1h"}, "grace must be at least zero"),
        ({"tags": "{unbalanced"}, "invalid pattern"),
        ({"tags": "a/b"}, "tags contain no /"),
        ({"repositories": "/etc", "untagged": True}, "relative to the project"),
        ({"untagged": True, "surprise": 1}, "invalid body"),
        ({"untagged": "yes"}, "invalid body"),
    ],
)
def test_bad_selections_are_400(server: RunningServer, body: dict[str, Any], text: str) -> None:
    with Api(server, ALICE) as alice:
        for path in ("/projects/ci/deletions/preview", "/projects/ci/deletions"):
            entry = assert_oci_error(alice.http.post(path, json=body), 400, "BAD_REQUEST")
            assert text in entry["message"], entry


def test_who_may_delete_in_bulk(server: RunningServer) -> None:
    body = {"untagged": True, "grace": "0s"}
    with Api(server, BOB) as bob, Api(server, CAROL) as carol, Api(server, None) as anonymous:
        for path in ("/projects/ci/deletions/preview", "/projects/ci/deletions"):
            entry = assert_oci_error(bob.http.post(path, json=body), 403, "DENIED")
            assert entry["detail"]["permission"] == "project:configure"
            for stranger in (carol, anonymous):  # a private project: not even its name
                assert_oci_error(stranger.http.post(path, json=body), 404, "NOT_FOUND")
        broken = bob.http.post(
            "/projects/ci/deletions", content=b"{", headers={"Content-Type": "application/json"}
        )
        assert_oci_error(broken, 400, "BAD_REQUEST")
    with Api(server) as admin:
        assert admin.ok("POST", "/projects/other/deletions/preview", json=body)["dry_run"]
        missing = admin.http.post("/projects/nope/deletions/preview", json=body)
        assert_oci_error(missing, 404, "NOT_FOUND")
        assert_oci_error(admin.http.get("/projects/ci/deletions"), 405, "UNSUPPORTED")


def test_quota_usage_and_limits(server: RunningServer) -> None:
    layer = b"shared layer " * 1000
    with server.client(auth=ADMIN) as registry:
        push_image(registry, "ci/quota", make_image(layer_data=[layer]), tag="v1")
        push_image(registry, "other/quota", make_image(layer_data=[layer]), tag="v1")
    with Api(server, ALICE) as alice, Api(server) as admin, Api(server, CAROL) as carol:
        usage = alice.ok("GET", "/projects/ci/quota")
        assert usage["project"] == "ci" and usage["limit_bytes"] is None
        assert usage["percent"] is None and usage["source"] == "default"
        assert usage["shared_bytes"] == len(layer), "the layer is in project other too"
        assert usage["used_bytes"] == usage["blob_bytes"] + usage["manifest_bytes"] > len(layer)
        assert usage["unique_bytes"] + usage["shared_bytes"] == usage["blob_bytes"]
        assert usage["unreferenced_bytes"] >= 0

        assert_oci_error(alice.http.put("/projects/ci/quota", json={"limit": "1GiB"}), 403,
                         "DENIED")  # fmt: skip
        assert_oci_error(carol.http.get("/projects/ci/quota"), 404, "NOT_FOUND")
        assert_oci_error(alice.http.get("/quotas"), 403, "DENIED")
        limited = admin.ok("PUT", "/projects/ci/quota", json={"limit": "1MiB"})
        assert limited["limit_bytes"] == 1024 * 1024 and limited["source"] == "database"
        assert limited["percent"] == round(100 * limited["used_bytes"] / 1024 / 1024, 1)
        assert admin.ok("PUT", "/projects/ci/quota", json={"limit": 5000})["limit_bytes"] == 5000
        assert alice.ok("GET", "/projects/ci/quota")["limit_bytes"] == 5000
        unlimited = admin.ok("PUT", "/projects/ci/quota", json={"limit": None})
        assert unlimited["limit_bytes"] is None and unlimited["source"] == "database"
        for bad in ({"limit": "lots"}, {"limit": True}, {"limit": -5}, {}):
            assert_oci_error(admin.http.put("/projects/ci/quota", json=bad), 400, "BAD_REQUEST")
        missing = admin.http.put("/projects/nope/quota", json={"limit": "1GiB"})
        assert_oci_error(missing, 404, "NOT_FOUND")
        cleared = admin.ok("DELETE", "/projects/ci/quota")
        assert cleared["limit_bytes"] is None and cleared["source"] == "default"
        every = {q["project"]: q for q in admin.ok("GET", "/quotas")["items"]}
        assert {"ci", "other"} <= set(every) and every["other"]["shared_bytes"] == len(layer)
        done = {"event": "quota.", "outcome": "success"}  # refusals are audited as failures
        events = admin.ok("GET", "/audit", params=done)["items"]
        assert [e["event"] for e in events].count("quota.set") == 3
        assert [e["event"] for e in events].count("quota.unset") == 1


def test_openapi_lists_the_lifecycle_endpoints(server: RunningServer) -> None:
    paths = httpx.get(server.url + "/api/v1/openapi.json").json()["paths"]
    preview = paths["/api/v1/projects/{project}/deletions/preview"]["post"]
    assert preview["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/BulkDeleteRequest"
    )
    assert preview["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/BulkDeletion"
    )
    assert set(paths["/api/v1/projects/{project}/quota"]) == {"get", "put", "delete"}
    assert "/api/v1/quotas" in paths and "/api/v1/projects/{project}/deletions" in paths
