"""``/api/v1`` browsing endpoints (repositories, tags with sizes and platforms, one artifact)
on SQLite and on PostgreSQL: keyset pages, what each caller may see, the OpenAPI document, and
bad input answered with the OCI error envelope."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from support import postgres
from support.identity import ADMIN, Api, identity_server
from support.oci import assert_oci_error, make_image, push_image
from support.server import RunningServer
from support.ui import SIGNATURE_TYPE, image_with_config, push_index, push_referrer

READER = ("reader", "reader-password")


def _database(kind: str) -> dict[str, str]:
    if kind == "sqlite":
        return {}
    if not postgres.available():
        pytest.skip("PostgreSQL is not installed (scripts/bootstrap --test)")
    return {"REGISTRY_DOCKYARD_DATABASE": postgres.shared_server().create_database("ui_api")}


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    workdir = tmp_path_factory.mktemp(f"ui-api-{request.param}")
    with identity_server(workdir, **_database(request.param)) as running:
        with Api(running) as admin:
            admin.project("team")
            admin.project("hidden")
            admin.user(*READER)
            admin.member("team", READER[0], "guest")
        with running.client(auth=ADMIN) as pusher:
            image = image_with_config()
            push_image(pusher, "team/app", image, "v1")
            push_referrer(pusher, "team/app", image, SIGNATURE_TYPE)
            push_index(pusher, "team/app", "multi")
            for n in range(3):
                push_image(pusher, f"team/more-{n}", make_image(layers=1), "latest")
            push_image(pusher, "hidden/app", make_image(layers=1), "v1")
        yield running


def _get(server: RunningServer, path: str, auth: Any = ADMIN, **params: Any) -> httpx.Response:
    return httpx.get(f"{server.url}/api/v1{path}", params=params, auth=auth, timeout=30)


def test_repositories_are_searched_and_paged(server: RunningServer) -> None:
    first = _get(server, "/repositories", q="team/", limit=2).json()
    assert first == {"items": ["team/app", "team/more-0"], "next": "team/more-0"}
    second = _get(server, "/repositories", q="team/", limit=2, cursor=first["next"]).json()
    assert second == {"items": ["team/more-1", "team/more-2"], "next": None}
    assert _get(server, "/repositories", q="more-1").json()["items"] == ["team/more-1"]


def test_callers_see_only_what_they_may_pull(server: RunningServer) -> None:
    names = _get(server, "/repositories", auth=READER).json()["items"]
    assert "team/app" in names and "hidden/app" not in names
    assert _get(server, "/repositories", auth=READER, q="hidden").json()["items"] == []
    refused = _get(server, "/tags", auth=READER, repository="hidden/app")
    assert_oci_error(refused, 403, "DENIED")
    anonymous = _get(server, "/tags", auth=None, repository="team/app")
    assert_oci_error(anonymous, 401, "UNAUTHORIZED")


def test_tags_carry_digest_size_platforms_and_times(server: RunningServer) -> None:
    page = _get(server, "/tags", repository="team/app", limit=1)
    body = page.json()
    assert [t["tag"] for t in body["items"]] == ["multi"] and body["next"] == "multi"
    assert 'rel="next"' in page.headers["link"]
    multi = body["items"][0]
    assert multi["platforms"] == ["linux/arch0", "linux/arch1"]
    assert multi["digest"].startswith("sha256:") and multi["size"] > 1000
    assert multi["pushed_at"] > 0 and multi["pulled_at"] is None
    rest = _get(server, "/tags", repository="team/app", cursor="multi").json()
    (v1,) = rest["items"]
    assert v1["tag"] == "v1" and v1["platforms"] == [] and rest["next"] is None
    detail = _get(server, "/artifact", repository="team/app", reference="v1").json()
    config_size = len(image_with_config().config)  # the same configuration every time
    assert v1["size"] == detail["size"] == detail["manifest_size"] + config_size + 2 * 3000


def test_artifact_details(server: RunningServer) -> None:
    detail = _get(server, "/artifact", repository="team/app", reference="v1").json()
    assert detail["tags"] == ["v1"] and len(detail["layers"]) == 2
    assert sum(layer["size"] for layer in detail["layers"]) == 6000
    config = detail["config"]
    assert config["entrypoint"] == ["/bin/app", "--serve"]
    assert "GREETING=hello <world>" in config["env"]
    assert [h["created_by"] for h in config["history"]][-1] == "COPY app /bin/app"
    (referrer,) = detail["referrers"]
    assert referrer["kind"] == "signature" and referrer["artifact_type"] == SIGNATURE_TYPE
    by_digest = _get(server, "/artifact", repository="team/app", reference=detail["digest"])
    assert by_digest.json()["digest"] == detail["digest"]
    index = _get(server, "/artifact", repository="team/app", reference="multi").json()
    assert [p["platform"] for p in index["platforms"]] == ["linux/arch0", "linux/arch1"]
    assert index["layers"] == [] and index["config"] is None


def test_bad_input_gets_the_error_envelope(server: RunningServer) -> None:
    assert_oci_error(_get(server, "/tags"), 400, "BAD_REQUEST")
    assert_oci_error(_get(server, "/tags", repository="Bad Name"), 400, "NAME_INVALID")
    assert_oci_error(_get(server, "/tags", repository="team/none"), 404, "NAME_UNKNOWN")
    assert_oci_error(_get(server, "/tags", repository="team/app", limit="x"), 400, "BAD_REQUEST")
    assert_oci_error(_get(server, "/tags", repository="team/app", limit=0), 400, "BAD_REQUEST")
    assert_oci_error(_get(server, "/artifact", repository="team/app"), 400, "BAD_REQUEST")
    bad_digest = _get(server, "/artifact", repository="team/app", reference="sha256:12")
    assert_oci_error(bad_digest, 400, "DIGEST_INVALID")
    unknown = _get(server, "/artifact", repository="team/app", reference="nope")
    assert_oci_error(unknown, 404, "MANIFEST_UNKNOWN")


def test_the_openapi_document_describes_them(server: RunningServer) -> None:
    document = httpx.get(f"{server.url}/api/v1/openapi.json", timeout=30).json()
    for path in ("/api/v1/repositories", "/api/v1/tags", "/api/v1/artifact"):
        assert "get" in document["paths"][path], path
    schemas = document["components"]["schemas"]
    assert {"TagSummary", "ArtifactDetail", "ImageConfig", "Referrer"} <= set(schemas)


def test_tags_newest_first(server: RunningServer) -> None:
    with server.client(auth=ADMIN) as pusher:
        image = make_image(layers=1)
        for tag in ("c-old", "a-mid", "b-new"):  # pushed in this order
            push_image(pusher, "team/by-push", image, tag)
    first = _get(server, "/tags", repository="team/by-push", sort="pushed", limit=2).json()
    assert [t["tag"] for t in first["items"]] == ["b-new", "a-mid"]
    rest = _get(server, "/tags", repository="team/by-push", sort="pushed",
                cursor=first["next"]).json()  # fmt: skip
    assert [t["tag"] for t in rest["items"]] == ["c-old"] and rest["next"] is None
    bad = _get(server, "/tags", repository="team/by-push", sort="pushed", cursor="x|y")
    assert_oci_error(bad, 400, "BAD_REQUEST")
    assert_oci_error(_get(server, "/tags", repository="team/by-push", sort="size"), 400,
                     "BAD_REQUEST")  # fmt: skip
