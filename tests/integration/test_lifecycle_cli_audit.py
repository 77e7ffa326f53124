"""Lifecycle changes made with the CLI land in the audit log as the API's do, the actor being
the local operator (``cli:<os user>``); reads and dry runs are not recorded."""

from __future__ import annotations

import getpass
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import httpx

from support.identity import ADMIN, identity_env, identity_server
from support.oci import make_image, push_image
from support.server import DOCKYARD

POLICIES = "[{name: ci, repositories: 'crew/**', untagged: true}]"


def dockyard(data: Path, *args: str, stdin: str = "") -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    env |= identity_env(REGISTRY_DOCKYARD_RETENTION_POLICIES=POLICIES)
    done = subprocess.run(
        [DOCKYARD, *args, "--data-dir", str(data)],
        input=stdin, capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, (args, done.stderr)
    return done.stdout


def events(data: Path) -> list[dict[str, Any]]:
    lines = dockyard(data, "audit", "export").splitlines()
    return [event for event in map(json.loads, lines) if event["actor"].startswith("cli:")]


def test_lifecycle_changes_from_the_cli_are_audited(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with identity_server(tmp_path) as server:
        dockyard(data, "project", "create", "crew")
        with httpx.Client(base_url=server.url, auth=ADMIN, timeout=30) as client:
            push_image(client, "crew/app", make_image(), "pr-1")
    before = len(events(data))
    dockyard(data, "quota", "set", "crew", "1GiB")
    dockyard(data, "quota", "list")  # a read: not recorded
    dockyard(data, "quota", "unset", "crew")
    dockyard(data, "immutable", "add", "--repositories", "crew/**", "--tags", "v*")
    rule = dockyard(data, "immutable", "list").split()[0]
    dockyard(data, "immutable", "remove", rule)
    dockyard(data, "maintenance", "readonly", "on", "--reason", "moving disks")
    dockyard(data, "maintenance", "readonly", "status")  # a read
    dockyard(data, "maintenance", "readonly", "off")
    bulk = ("delete", "--repo", "crew/**", "--tag", "pr-*", "--grace", "0s")
    assert "would delete 1 manifests" in dockyard(data, *bulk, "--dry-run")  # a preview
    dockyard(data, *bulk, "--yes")
    dockyard(data, "retention", "run", "--dry-run")  # a preview
    dockyard(data, "retention", "run")
    dockyard(data, "gc", "--dry-run")  # a preview
    dockyard(data, "gc")
    recorded = events(data)[before:]
    actor = f"cli:{getpass.getuser()}"
    assert {event["actor"] for event in recorded} == {actor}
    assert {event["outcome"] for event in recorded} == {"success"}
    shape = [(event["event"], event["target"], event.get("detail") or {}) for event in recorded]
    assert shape == [
        ("quota.set", "project:crew", {"limit": 1 << 30}),
        ("quota.unset", "project:crew", {}),
        ("immutability.add", f"rule:{rule}", {"repositories": "crew/**", "tags": "v*"}),
        ("immutability.remove", f"rule:{rule}", {}),
        ("system.settings", "system:readonly", {"readonly": True, "reason": "moving disks"}),
        ("system.settings", "system:readonly", {"readonly": False, "reason": ""}),
        ("images.delete", "repositories:crew/**", {
            "selection": "dockyard delete --repo crew/** --tag pr-*",
            "manifests": 1, "tags": 0, "skipped": 0}),
        ("retention.run", "system:retention", {"deleted": 0, "repositories": 1, "skipped": 0}),
        ("gc.run", "system:gc", {"manifests": 0, "blobs": 0, "bytes": 0, "stopped_early": ""}),
    ]  # fmt: skip
