"""The payload formats against their specs: CloudEvents 1.0 structured JSON (the required
context attributes and the optional ones we set) and Harbor's webhook JSON."""

from __future__ import annotations

import datetime
import json
import re

from dockyard.core.events import Event, EventKind, EventTarget
from dockyard.core.payloads import cloudevents, harbor, registry_host, rfc3339
from dockyard.services.webhooks.formats import ProjectVisibility, standard_renderers

DIGEST = "sha256:" + "ab" * 32
PUSH = Event(
    id="0f" * 16,
    kind=EventKind.MANIFEST_PUSHED,
    time=1_700_000_000.25,
    repository="team/app/web",
    target=EventTarget(DIGEST, "application/vnd.oci.image.manifest.v1+json", 1234,
                       tags=("1.0", "latest")),
    actor="alice",
    request_id="req-7",
)  # fmt: skip
# RFC 3339 date-time, UTC ("Z"), as CloudEvents' "time" requires
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


def test_cloudevents_structured_mode_has_every_required_attribute() -> None:
    body = json.loads(cloudevents.render(PUSH, source="https://registry.example"))
    # spec: id, source, specversion, type are REQUIRED; non-empty strings
    for attribute in ("id", "source", "specversion", "type"):
        assert isinstance(body[attribute], str) and body[attribute], attribute
    assert body["specversion"] == "1.0"
    assert body["id"] == PUSH.id  # the event's own id: the same on every attempt
    assert body["type"] == "io.dockyard.manifest.pushed"
    assert body["source"] == "https://registry.example"
    assert RFC3339.match(body["time"]), body["time"]
    parsed = datetime.datetime.fromisoformat(body["time"].replace("Z", "+00:00"))
    assert parsed.timestamp() == PUSH.time
    assert body["subject"] == f"team/app/web@{DIGEST}"
    assert body["datacontenttype"] == "application/json"
    assert body["data"]["repository"] == "team/app/web"
    assert body["data"]["target"]["tags"] == ["1.0", "latest"]
    assert body["data"]["actor"] == "alice" and body["data"]["request_id"] == "req-7"
    # attribute names: lower-case a-z and 0-9 only (CloudEvents naming rule)
    assert all(re.fullmatch(r"[a-z0-9]{1,20}", name) for name in body)
    assert cloudevents.CONTENT_TYPE.startswith("application/cloudevents+json")


def test_cloudevents_source_defaults_and_a_future_kind_keeps_its_name() -> None:
    later = Event("1" * 32, EventKind.BLOB_MOUNTED, 1.0, "p/r", EventTarget(DIGEST))
    body = json.loads(cloudevents.render(later, source=""))
    assert body["source"] == "/dockyard" and body["type"] == "io.dockyard.blob.mounted"
    assert "actor" in body["data"] and body["data"]["actor"] is None


def test_harbor_payload_has_harbors_fields() -> None:
    body = json.loads(harbor.render(PUSH, host="registry.example:5000", public=True))
    assert body["type"] == "PUSH_ARTIFACT"
    assert body["occur_at"] == 1_700_000_000 and body["operator"] == "alice"
    resources = body["event_data"]["resources"]
    assert resources == [
        {"digest": DIGEST, "tag": "1.0", "resource_url": "registry.example:5000/team/app/web:1.0"},
        {"digest": DIGEST, "tag": "latest",
         "resource_url": "registry.example:5000/team/app/web:latest"},
    ]  # fmt: skip
    assert body["event_data"]["repository"] == {
        "name": "app/web",
        "namespace": "team",
        "repo_full_name": "team/app/web",
        "repo_type": "public",
    }


def test_harbor_types_and_untagged_resources() -> None:
    deleted = Event("2" * 32, EventKind.MANIFEST_DELETED, 5.0, "team/app", EventTarget(DIGEST))
    body = harbor.payload(deleted)
    assert body["type"] == "DELETE_ARTIFACT" and body["operator"] == "anonymous"
    assert body["event_data"]["resources"] == [
        {"digest": DIGEST, "tag": "", "resource_url": f"team/app@{DIGEST}"}
    ]
    assert body["event_data"]["repository"]["repo_type"] == "private"
    assert harbor.harbor_type("tag.deleted") == "DELETE_TAG"
    assert harbor.harbor_type("blob.mounted") == "BLOB_MOUNTED"
    assert harbor.harbor_type("ping") == "PING"


def test_standard_renderers_use_the_registry_address_and_project_visibility() -> None:
    visibility = ProjectVisibility()
    renderers = standard_renderers("https://reg.example:8443/", visibility)
    assert set(renderers) == {"cloudevents", "harbor"}  # distribution: wired elsewhere
    assert json.loads(renderers["cloudevents"](PUSH))["source"] == "https://reg.example:8443"
    first = json.loads(renderers["harbor"](PUSH))
    assert first["event_data"]["repository"]["repo_type"] == "private"
    assert first["event_data"]["resources"][0]["resource_url"].startswith("reg.example:8443/")
    visibility.note("team", True)
    again = json.loads(renderers["harbor"](PUSH))
    assert again["event_data"]["repository"]["repo_type"] == "public"


def test_helpers() -> None:
    assert registry_host("") == "" and registry_host("http://a.b:5000/x") == "a.b:5000"
    assert rfc3339(0) == "1970-01-01T00:00:00.000000Z"
