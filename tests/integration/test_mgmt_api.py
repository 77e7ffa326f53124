"""The management API (/api/v1) and the admin CLI against a real server with identity on:
OpenAPI, the error envelope, users, groups, projects, members, roles, tokens, robots, the
audit log (API and ``dockyard audit export``), pagination and login throttling."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.identity import ADMIN, Api, cli, identity_env, identity_server
from support.oci import assert_oci_error
from support.server import RunningServer

JSON_BODY = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    workdir = tmp_path_factory.mktemp("mgmt")
    with identity_server(workdir, REGISTRY_DOCKYARD_IDENTITY_LOGINATTEMPTS="3") as running:
        with Api(running) as admin:
            admin.user("alice", "alice-password")
            admin.user("bob", "bob-password")
            admin.project("team")
            admin.member("team", "alice", "admin")
        yield running


def test_openapi_document_lists_every_endpoint(server: RunningServer) -> None:
    doc = httpx.get(server.url + "/api/v1/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    paths = doc["paths"]
    for path in ("/api/v1/projects", "/api/v1/projects/{project}/members", "/api/v1/robots",
                 "/api/v1/tokens", "/api/v1/users", "/api/v1/groups", "/api/v1/roles",
                 "/api/v1/audit"):  # fmt: skip
        assert path in paths, path
    created = paths["/api/v1/projects"]["post"]
    assert created["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert "Errors" in doc["components"]["schemas"]


def test_a_web_page_cannot_drive_the_api_through_a_logged_in_browser(
    server: RunningServer,
) -> None:
    own_origin = server.url  # http://127.0.0.1:<port>, what a same-origin page sends
    with Api(server) as admin:
        forged = admin.http.post("/projects", content=b'{"name": "forged1"}',
                                 headers={"Content-Type": "text/plain"})  # fmt: skip
        assert_oci_error(forged, 415, "UNSUPPORTED")
        for headers in (
            {"Origin": "http://evil.example"},
            {"Origin": "null"},
            {"Origin": own_origin.replace("127.0.0.1", "localhost")},
            {"Sec-Fetch-Site": "cross-site"},
            {"Sec-Fetch-Site": "same-site", "Origin": own_origin},
        ):
            refused = admin.http.post("/projects", json={"name": "forged2"}, headers=headers)
            assert_oci_error(refused, 403, "DENIED")
            assert_oci_error(admin.http.delete("/users/bob", headers=headers), 403, "DENIED")
        same = {"Origin": own_origin, "Sec-Fetch-Site": "same-origin"}
        admin.ok("POST", "/projects", 201, json={"name": "from-the-ui"}, headers=same)
        names = {p["name"] for p in admin.ok("GET", "/projects", params={"limit": "500"})["items"]}
        assert "from-the-ui" in names and not {"forged1", "forged2"} & names
        admin.ok("GET", "/users/bob", headers={"Origin": "http://evil.example"})  # reads: CORS
    done = subprocess.run(
        ["curl", "-sS", "-u", ":".join(ADMIN), "--json", '{"name": "from-curl"}',
         f"{server.url}/api/v1/projects"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0 and json.loads(done.stdout)["name"] == "from-curl", done
    with httpx.Client(base_url=server.url) as anonymous:
        assert anonymous.get("/api/v1/users").headers["www-authenticate"].startswith("Bearer ")
        assert anonymous.get("/v2/").headers["www-authenticate"].startswith("Basic ")


def test_errors_use_the_envelope(server: RunningServer) -> None:
    with (
        Api(server) as admin,
        Api(server, None) as anonymous,
        Api(server, ("bob", "bob-password")) as bob,
    ):
        assert_oci_error(admin.http.get("/nothing-here"), 404, "NOT_FOUND")
        broken = admin.http.post("/users", content=b"{", headers=JSON_BODY)
        assert_oci_error(broken, 400, "BAD_REQUEST")
        deep = b'{"name":' + b"[" * 1000 + b"]" * 1000 + b"}"  # a RecursionError (500) once
        too_deep = admin.http.post("/users", content=deep, headers=JSON_BODY)
        assert "deeper than 64 levels" in assert_oci_error(too_deep, 400, "BAD_REQUEST")["message"]
        assert_oci_error(admin.http.post("/users", json={"name": "x"}), 400, "BAD_REQUEST")
        assert_oci_error(admin.http.post("/projects", json={"name": "team"}), 409, "CONFLICT")
        assert_oci_error(admin.http.put("/users"), 405, "UNSUPPORTED")
        refused = anonymous.http.get("/users")
        assert_oci_error(refused, 401, "UNAUTHORIZED")
        assert refused.headers["www-authenticate"].startswith("Bearer ")  # never Basic here
        assert_oci_error(bob.http.get("/users"), 403, "DENIED")
        assert_oci_error(bob.http.get("/projects/team"), 404, "NOT_FOUND")  # not even its name
        bad = httpx.get(server.url + "/api/v1/me", auth=("bob", "wrong"))
        assert_oci_error(bad, 401, "UNAUTHORIZED")


def test_users_pagination_and_self_service(server: RunningServer) -> None:
    with Api(server) as admin:
        for n in range(5):
            admin.user(f"page-user-{n}", "long-password")
        first = admin.http.get("/users", params={"limit": 2, "q": "page-user"})
        assert first.status_code == 200
        body = first.json()
        assert [u["name"] for u in body["items"]] == ["page-user-0", "page-user-1"]
        assert body["next"] == "page-user-1" and 'rel="next"' in first.headers["link"]
        rest = admin.ok("GET", "/users", params={"limit": 10, "q": "page-user",
                                                 "cursor": body["next"]})  # fmt: skip
        assert [u["name"] for u in rest["items"]] == ["page-user-2", "page-user-3", "page-user-4"]
        assert rest["next"] is None
        assert "password" not in json.dumps(rest) and "hash" not in json.dumps(rest)
    with Api(server, ("page-user-0", "long-password")) as user:
        assert user.ok("GET", "/me")["name"] == "page-user-0"
        change = {"password": "another-password", "current_password": "long-password"}
        user.ok("PATCH", "/users/page-user-0", json=change)
    with Api(server, ("page-user-0", "another-password")) as user:
        assert user.ok("GET", "/users/page-user-0")["admin"] is False
        assert_oci_error(user.http.patch("/users/page-user-0", json={"admin": True}), 403, "DENIED")


def test_projects_members_roles_and_groups(server: RunningServer) -> None:
    with Api(server) as admin:
        admin.project("shop", public=True)
        admin.ok("POST", "/roles", 201, json={"name": "puller", "permissions": ["repository:pull"]})
        assert "puller" in [r["name"] for r in admin.ok("GET", "/roles")["items"]]
        admin.ok("POST", "/groups", 201, json={"name": "buyers"})
        admin.ok("POST", "/groups/buyers/members", 204, json={"user": "bob"})
        assert admin.ok("GET", "/groups/buyers")["members"] == ["bob"]
        member = admin.member("shop", "buyers", "puller", kind="group")
        admin.ok("PATCH", f"/projects/shop/members/{member}", json={"role": "developer"})
        assert_oci_error(admin.http.delete("/roles/admin"), 409, "CONFLICT")
        public = admin.ok("GET", "/projects", params={"public": "true"})["items"]
        assert [p["name"] for p in public] == ["shop"]
    with Api(server, None) as anonymous:
        assert [p["name"] for p in anonymous.ok("GET", "/projects")["items"]] == ["shop"]
    with Api(server, ("alice", "alice-password")) as alice:  # project admin of team
        alice.ok("PATCH", "/projects/team", json={"description": "the team"})
        alice.member("team", "bob", "guest", "ci-*")
        members = alice.ok("GET", "/projects/team/members")["items"]
        assert {(m["name"], m["role"], m["repositories"]) for m in members} == {
            ("alice", "admin", ""), ("bob", "guest", "team/ci-*")}  # fmt: skip
        assert_oci_error(alice.http.patch("/projects/shop", json={"public": False}), 403, "DENIED")


def test_tokens_and_robots(server: RunningServer) -> None:
    with Api(server, ("alice", "alice-password")) as alice:
        made = alice.ok("POST", "/tokens", 201, json={"name": "laptop"})
        secret, token_id = made["secret"], made["token"]["id"]
        assert secret.startswith("dyp_") and "secret" not in json.dumps(alice.ok("GET", "/tokens"))
        robot_id, robot_name, robot_secret = alice.robot("deploy", "team", "repository:pull")
        assert robot_name == "robot$team+deploy"
    bearer = httpx.get(server.url + "/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert bearer.json()["name"] == "alice"
    with Api(server, ("alice", secret)) as via_token:
        assert via_token.ok("GET", "/me")["name"] == "alice"
        via_token.ok("DELETE", f"/tokens/{token_id}", 204)
    assert httpx.get(server.url + "/api/v1/me", auth=("alice", secret)).status_code == 401
    with Api(server, (robot_name, robot_secret)) as robot:
        assert robot.ok("GET", "/me")["kind"] == "robot"
    with Api(server) as admin:
        assert admin.ok("GET", "/robots", params={"project": "team"})["items"][0]["id"] == robot_id
        admin.ok("DELETE", f"/robots/{robot_id}", 204)
    assert httpx.get(server.url + "/api/v1/me", auth=(robot_name, robot_secret)).status_code == 401


def test_audit_log_api_and_export(server: RunningServer) -> None:
    httpx.get(server.url + "/api/v1/me", auth=("carol-unknown", "nope"))
    with Api(server) as admin:
        admin.project("audited")
        query = {"event": "login", "outcome": "failure", "actor": "carol-unknown"}
        failures = admin.ok("GET", "/audit", params=query)["items"]
        assert failures and failures[0]["client"] == "127.0.0.1"
        created = admin.ok(
            "GET", "/audit", params={"event": "project.", "target": "project:audited"}
        )
        assert (
            created["items"][0]["actor"] == "admin" and created["items"][0]["outcome"] == "success"
        )
    with Api(server, ("bob", "bob-password")) as bob:
        assert_oci_error(bob.http.get("/audit"), 403, "DENIED")
    lines = cli(
        server.data_dir, identity_env(), "audit", "export", "--event", "project."
    ).splitlines()
    events = [json.loads(line) for line in lines]
    assert any(e["target"] == "project:audited" and e["event"] == "project.create" for e in events)
    assert [e["id"] for e in events] == sorted(e["id"] for e in events)


def test_failed_logins_are_throttled(server: RunningServer) -> None:
    for _ in range(3):
        response = httpx.get(server.url + "/v2/", auth=("throttled-user", "wrong"))
        assert_oci_error(response, 401, "UNAUTHORIZED")
    refused = httpx.get(server.url + "/v2/", auth=("throttled-user", "wrong"))
    assert_oci_error(refused, 429, "TOOMANYREQUESTS")
    assert int(refused.headers["retry-after"]) >= 1
    assert httpx.get(server.url + "/v2/", auth=ADMIN).status_code == 200


def test_cli_manages_users_projects_and_robots(tmp_path: Path) -> None:
    env, data = identity_env(), tmp_path / "data"
    cli(data, env, "user", "add", "root", "--admin", "--password-stdin", stdin="root-password\n")
    cli(data, env, "user", "add", "dev", "--password-stdin", stdin="dev-password\n")
    cli(data, env, "user", "passwd", "dev", "--password-stdin", stdin="dev-password-2\n")
    assert "dev" in cli(data, env, "user", "list")
    cli(data, env, "project", "create", "apps", "--public", "--admin", "dev")
    assert "public" in cli(data, env, "project", "list")
    cli(data, env, "user", "add", "ops", "--password-stdin", stdin="ops-password\n")
    added = cli(data, env, "project", "add-member", "apps", "ops", "--role", "guest",
                "--repositories", "ci-*")  # fmt: skip
    member_id = added.rsplit("member id ", 1)[1].rstrip(")\n")
    listed = cli(data, env, "project", "members", "apps").splitlines()
    assert any(line.split()[2:] == ["ops", "guest", "apps/ci-*"] for line in listed), listed
    cli(data, env, "project", "remove-member", "apps", member_id)
    assert "ops" not in cli(data, env, "project", "members", "apps")
    out = cli(data, env, "robot", "create", "ci", "--project", "apps", "--permission",
              "repository:push", "--permission", "repository:pull", "--expires", "24h")  # fmt: skip
    assert "robot$apps+ci" in out and "secret:" in out
    assert "robot$apps+ci" in cli(data, env, "robot", "list", "--project", "apps")
    cli(data, env, "robot", "revoke", "robot$apps+ci")
    cli(data, env, "user", "delete", "dev")
    events = [json.loads(x)["event"] for x in cli(data, env, "audit", "export").splitlines()]
    assert events == ["user.create", "user.create", "user.update", "project.create",
                      "member.add", "user.create", "member.add", "member.remove",
                      "robot.create", "robot.delete", "user.delete"]  # fmt: skip


def _walk(api: Api, path: str, **params: object) -> tuple[list[Any], int]:
    """Every item of a list, one element per page; and how many pages it took."""
    items: list[Any] = []
    pages, cursor = 0, ""
    while True:
        response = api.http.get(path, params={**params, "limit": 2, "cursor": cursor})
        assert response.status_code == 200, response.text
        body, pages = response.json(), pages + 1
        assert len(body["items"]) <= 2
        items += body["items"]
        if body["next"] is None:
            assert "link" not in response.headers
            return items, pages
        assert 'rel="next"' in response.headers["link"]
        cursor = body["next"]


def test_every_list_pages_and_filters(server: RunningServer) -> None:
    with Api(server) as admin:
        admin.project("paged")
        for n in range(5):
            admin.user(f"pager-{n}", "long-password")
            admin.member("paged", f"pager-{n}", "guest")
            admin.ok("POST", "/roles", 201, json={"name": f"paged-role-{n}",
                                                  "permissions": ["repository:pull"]})  # fmt: skip
            admin.ok("POST", "/tokens", 201, json={"name": f"paged-token-{n}"})
        admin.ok("POST", "/tokens", 201, json={"name": "other"})
        members, pages = _walk(admin, "/projects/paged/members")
        assert [m["name"] for m in members] == [f"pager-{n}" for n in range(5)] and pages == 3
        roles, _ = _walk(admin, "/roles", q="paged-role")
        assert [r["name"] for r in roles] == [f"paged-role-{n}" for n in range(5)]
        tokens, _ = _walk(admin, "/tokens", q="paged-token")
        assert [t["name"] for t in tokens] == [f"paged-token-{n}" for n in range(5)]
        assert len(_walk(admin, "/tokens")[0]) == 6
        builtin = [r["name"] for r in admin.ok("GET", "/roles")["items"]][:4]
        assert builtin == ["admin", "maintainer", "developer", "guest"]
        only = admin.ok("GET", "/projects/paged/members", params={"q": "pager-3"})["items"]
        assert [m["name"] for m in only] == ["pager-3"]
        for path in ("/projects/paged/members", "/roles", "/tokens"):
            assert_oci_error(admin.http.get(path, params={"limit": "0"}), 400, "BAD_REQUEST")
            assert_oci_error(admin.http.get(path, params={"limit": "x"}), 400, "BAD_REQUEST")


def test_refused_changes_are_audited(server: RunningServer) -> None:
    with Api(server) as admin:
        admin.project("refusing")
    with Api(server, ("bob", "bob-password")) as bob:
        assert_oci_error(bob.http.post("/users", json={"name": "mallory", "password": "x" * 12}),
                         403, "DENIED")  # fmt: skip
        assert_oci_error(bob.http.delete("/projects/refusing"), 404, "NOT_FOUND")
    with Api(server, None) as anonymous:  # asked to log in, not recorded
        assert_oci_error(anonymous.http.post("/projects", json={"name": "x"}), 401, "UNAUTHORIZED")
    with Api(server) as admin:
        assert_oci_error(admin.http.post("/roles", json={"name": "x"}), 400, "BAD_REQUEST")
        failures = admin.ok("GET", "/audit", params={"outcome": "failure", "actor": "bob"})["items"]
        found = {(e["event"], e["target"], e["detail"].get("status")) for e in failures}
        assert {("user.create", "", 403), ("project.delete", "project:refusing", 404)} <= found
        assert all(e["client"] == "127.0.0.1" for e in failures)
        mine = admin.ok("GET", "/audit", params={"event": "role.create", "outcome": "failure"})
        assert mine["items"][0]["actor"] == "admin"
        assert mine["items"][0]["detail"]["code"] == "BAD_REQUEST"
        created = admin.ok("GET", "/audit", params={"event": "project.create",
                                                    "outcome": "failure"})["items"]  # fmt: skip
        assert {e["actor_kind"] for e in created} == {"user"}  # logged-in callers only


def test_robots_filter_by_name(server: RunningServer) -> None:
    with Api(server) as admin:
        admin.project("filtered")
        for name in ("alpha-ci", "beta-ci", "alpha-deploy"):
            admin.robot(name, "filtered", "repository:pull")
        query = {"project": "filtered", "q": "alpha", "limit": 1}
        first = admin.http.get("/robots", params=query)
        assert [r["name"] for r in first.json()["items"]] == ["robot$filtered+alpha-ci"]
        assert "q=alpha" in first.headers["link"]  # the next page keeps the filter
        rest = admin.ok("GET", "/robots", params={**query, "cursor": first.json()["next"]})
        assert [r["name"] for r in rest["items"]] == ["robot$filtered+alpha-deploy"]
        assert rest["next"] is None
        assert admin.ok("GET", "/robots", params={"project": "filtered", "q": "%"})["items"] == []
        assert_oci_error(admin.http.get("/robots", params={"q": "x", "limit": "0"}), 400,
                         "BAD_REQUEST")  # fmt: skip
        doc = admin.http.get("/openapi.json").json()
        names = [p["name"] for p in doc["paths"]["/api/v1/robots"]["get"]["parameters"]]
        assert "q" in names


def test_audit_export_streams_json_lines(server: RunningServer) -> None:
    with Api(server) as admin:
        for n in range(1005):  # more than one batch read and more than one chunk sent
            admin.ok("POST", "/groups", 201, json={"name": f"exported-{n:04d}"})
        with admin.http.stream("GET", "/audit/export", params={"event": "group.create"}) as got:
            assert got.status_code == 200
            assert got.headers["content-type"] == "application/x-ndjson"
            assert "content-length" not in got.headers
            lines = list(got.iter_lines())
        events = [json.loads(line) for line in lines]
        exported = [e["target"] for e in events if e["target"].startswith("group:exported-")]
        assert exported == [f"group:exported-{n:04d}" for n in range(1005)]
        assert [e["id"] for e in events] == sorted(e["id"] for e in events)
        assert {e["event"] for e in events} == {"group.create"}
        one = {"event": "group.create", "target": "group:exported-0007"}
        narrowed = admin.http.get("/audit/export", params=one)
        assert [json.loads(x)["target"] for x in narrowed.text.splitlines()] == [
            "group:exported-0007"]  # fmt: skip
        none = admin.http.get("/audit/export", params={"actor": "nobody-at-all"})
        assert none.status_code == 200 and none.content == b""
        assert_oci_error(admin.http.get("/audit/export", params={"since": "yesterday"}), 400,
                         "BAD_REQUEST")  # fmt: skip
        doc = admin.http.get("/openapi.json").json()
        export = doc["paths"]["/api/v1/audit/export"]["get"]
        assert "application/x-ndjson" in export["responses"]["200"]["content"]
    with Api(server, ("bob", "bob-password")) as bob:
        assert_oci_error(bob.http.get("/audit/export"), 403, "DENIED")
    with Api(server, None) as anonymous:
        assert_oci_error(anonymous.http.get("/audit/export"), 401, "UNAUTHORIZED")
    cli_lines = cli(server.data_dir, identity_env(), "audit", "export", "--event", "group.create",
                    "--target", "group:exported-0007").splitlines()  # fmt: skip
    assert cli_lines == narrowed.text.splitlines()  # one format, whichever way it is exported


def test_refused_lifecycle_changes_are_audited(server: RunningServer) -> None:
    deletions = "/projects/team/deletions"
    with Api(server, ("bob", "bob-password")) as bob:  # a guest of team at most
        assert_oci_error(bob.http.post(deletions, json={"tags": "v*"}), 403, "DENIED")
        assert_oci_error(bob.http.post(deletions + "/preview", json={"tags": "v*"}), 403,
                         "DENIED")  # fmt: skip
        assert_oci_error(bob.http.put("/projects/team/quota", json={"limit": 1}), 403, "DENIED")
        assert_oci_error(bob.http.delete("/projects/team/quota"), 403, "DENIED")
    with Api(server, ("alice", "alice-password")) as alice:  # the project's admin
        refused = alice.http.post(deletions, json={"repositories": "/abs"})
        assert_oci_error(refused, 400, "BAD_REQUEST")
    with Api(server) as admin:
        bobs = {"outcome": "failure", "actor": "bob", "target": "project:team"}
        failures = admin.ok("GET", "/audit", params=bobs)["items"]
        found = {(e["event"], e["detail"]["status"]) for e in failures}
        assert found == {("images.delete", 403), ("quota.set", 403), ("quota.unset", 403)}
        mine = admin.ok("GET", "/audit", params={"outcome": "failure", "actor": "alice",
                                                 "event": "images.delete"})["items"]  # fmt: skip
        assert mine[0]["target"] == "project:team" and mine[0]["detail"]["code"] == "BAD_REQUEST"


def test_refused_robot_changes_name_the_robot_as_successes_do(server: RunningServer) -> None:
    with Api(server) as admin:
        robot_id, name, _ = admin.robot("named", "team", "repository:pull")
    with Api(server, ("bob", "bob-password")) as bob:
        assert_oci_error(bob.http.patch(f"/robots/{robot_id}", json={"disabled": True}), 404,
                         "NOT_FOUND")  # fmt: skip
        assert_oci_error(bob.http.delete(f"/robots/{robot_id}"), 404, "NOT_FOUND")
        assert_oci_error(bob.http.delete("/robots/987654"), 404, "NOT_FOUND")
    with Api(server) as admin:
        made = admin.ok("GET", "/audit", params={"event": "robot.create",
                                                 "target": f"robot:{name}"})["items"]  # fmt: skip
        assert made and made[0]["outcome"] == "success"
        failures = admin.ok("GET", "/audit", params={"outcome": "failure", "actor": "bob",
                                                     "event": "robot."})["items"]  # fmt: skip
        targets = {(e["event"], e["target"]) for e in failures}
        assert {("robot.update", f"robot:{name}"), ("robot.delete", f"robot:{name}"),
                ("robot.delete", "robot:987654")} <= targets  # fmt: skip
