"""``/api/v1/system/settings`` against a real server: the effective settings for
administrators (never a secret), the read-only switch at run time (seen by the registry at
once, stored in the database), bad input in the error envelope, and the audit entry."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support.identity import ADMIN, Api, cli, identity_env, identity_server
from support.oci import assert_oci_error, make_image, push_image
from support.server import RunningServer

JSON_BODY = {"Content-Type": "application/json"}
TOKEN_SETTINGS = {
    "REGISTRY_DOCKYARD_TOKEN_ENABLED": "true",
    "REGISTRY_DOCKYARD_TOKEN_ISSUER": "settings-test-issuer",
    "REGISTRY_DOCKYARD_GC_INTERVAL": "12h",
    "REGISTRY_DOCKYARD_QUOTAS_DEFAULT": "10GiB",
    "REGISTRY_DOCKYARD_IDENTITY_CREATEONPUSH": "true",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    workdir = tmp_path_factory.mktemp("system-settings")
    with identity_server(workdir, **TOKEN_SETTINGS) as running:
        with Api(running) as admin:
            admin.user("bob", "bob-password")
        yield running


def token_for(server: RunningServer, auth: tuple[str, str], scope: str) -> str:
    params = {"service": "dockyard", "scope": scope}
    response = httpx.get(server.url + "/token", params=params, auth=auth)
    assert response.status_code == 200, response.text
    return str(response.json()["token"])


def test_administrators_read_the_effective_settings(server: RunningServer) -> None:
    with Api(server) as admin:
        settings = admin.ok("GET", "/system/settings")
    assert settings["identity"]["enabled"] is True
    assert settings["identity"]["createonpush"] is True
    assert settings["identity"]["auditpulls"] is True
    assert settings["token"]["enabled"] is True
    assert settings["token"]["issuer"] == "settings-test-issuer"
    assert settings["delete_enabled"] is True
    assert settings["gc"]["interval"] == "12h" and settings["quotas"]["default"] == "10GiB"
    assert settings["readonly"] == {"enabled": False, "configured": False, "switched": False,
                                    "reason": ""}  # fmt: skip
    assert settings["changeable"] == ["readonly"]
    text = json.dumps(settings).lower()
    for secret in ("password", "secret", "key", str(server.data_dir).lower()):
        assert secret not in text, secret


def test_only_administrators(server: RunningServer) -> None:
    with Api(server, ("bob", "bob-password")) as bob, Api(server, None) as anonymous:
        assert_oci_error(bob.http.get("/system/settings"), 403, "DENIED")
        assert_oci_error(bob.http.patch("/system/settings", json={"readonly": {"enabled": True}}),
                         403, "DENIED")  # fmt: skip
        assert_oci_error(anonymous.http.get("/system/settings"), 401, "UNAUTHORIZED")
        assert_oci_error(anonymous.http.delete("/system/settings"), 405, "UNSUPPORTED")


def test_bad_changes_are_refused(server: RunningServer) -> None:
    with Api(server) as admin:
        http = admin.http
        for body in (b"{", b"[]", b'{"createonpush": true}', b'{"readonly": {"enabled": "yes"}}',
                     b'{"readonly": {"reason": "no switch"}}'):  # fmt: skip
            bad = http.patch("/system/settings", content=body, headers=JSON_BODY)
            assert_oci_error(bad, 400, "BAD_REQUEST")
        assert_oci_error(http.put("/system/settings", json={}), 400, "BAD_REQUEST")
        long = {"readonly": {"enabled": True, "reason": "x" * 501}}
        assert_oci_error(http.patch("/system/settings", json=long), 400, "BAD_REQUEST")
        assert admin.ok("GET", "/system/settings")["readonly"]["switched"] is False


def test_read_only_switch_reaches_the_registry_and_is_audited(server: RunningServer) -> None:
    admin_token = token_for(server, ADMIN, "repository:ro/app:push,pull")
    registry = server.client(headers={"Authorization": f"Bearer {admin_token}"})
    with Api(server) as admin, registry:
        switched = admin.ok("PATCH", "/system/settings",
                            json={"readonly": {"enabled": True, "reason": "upgrade"}})  # fmt: skip
        assert switched["readonly"] == {"enabled": True, "configured": False, "switched": True,
                                        "reason": "upgrade"}  # fmt: skip
        refused = registry.post("/v2/ro/app/blobs/uploads/")
        entry = assert_oci_error(refused, 405, "UNSUPPORTED")
        assert "upgrade" in entry["message"]
        status = cli(
            server.data_dir, identity_env(**TOKEN_SETTINGS), "maintenance", "readonly", "status"
        )
        assert "upgrade" in status  # stored in the database: every node and the CLI see it
        replaced = admin.ok("PUT", "/system/settings", json={"readonly": {"enabled": False}})
        assert replaced["readonly"]["enabled"] is False
        push_image(registry, "ro/app", make_image(layers=1), tag="v1")
        audit = admin.ok("GET", "/audit", params={"event": "system.settings"})["items"]
        assert [(e["actor"], e["detail"]["readonly"]) for e in audit[:2]] == [
            ("admin", False), ("admin", True)]  # fmt: skip


def test_openapi_lists_the_endpoint(server: RunningServer) -> None:
    doc = httpx.get(server.url + "/api/v1/openapi.json").json()
    operations = doc["paths"]["/api/v1/system/settings"]
    assert set(operations) == {"get", "patch", "put"}
    assert operations["patch"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert "SystemSettings" in doc["components"]["schemas"]


def test_without_identity_there_is_no_endpoint(tmp_path: Path) -> None:
    from support.server import serving

    with serving(tmp_path) as plain, plain.client() as client:
        assert_oci_error(client.get("/api/v1/system/settings"), 404, "NOT_FOUND")
