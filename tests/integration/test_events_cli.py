"""``dockyard events deliveries`` and ``dockyard events replay`` on a real data directory:
the history with status codes, the dead letters, and replay putting them back."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path

from dockyard.core.delivery import DeliveryState, NewDelivery
from dockyard.persistence.sql.deliveries import SqlDeliveryStore
from dockyard.persistence.sqlite import SqliteDatabase
from support.server import DOCKYARD


def events(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    return subprocess.run(
        [DOCKYARD, "events", *args, "--data-dir", str(data_dir)],
        capture_output=True, text=True, timeout=60, check=False, env=env,
    )  # fmt: skip


async def _two_deliveries(database: SqliteDatabase) -> None:
    """One delivered (202) and one dead (500 three times) delivery of two events."""
    store = SqlDeliveryStore(database, snapshot_bound=False)
    for name in ("e1", "e2"):
        await database.execute(
            "INSERT INTO outbox_events(event_id, kind, created_at, repository, target) "
            "VALUES (?, 'manifest.pushed', 1, 'team/app', ?)",
            (name, '{"digest": "sha256:x"}'),
        )
    start = await store.position()
    wanted = [
        NewDelivery("notifications:ci", n, f"e{n}", f"team/app{n}", "manifest.pushed")
        for n in (1, 2)
    ]
    moved = await store.events_after(start, 10)
    assert await store.record_dispatch(start, moved[-1][0], wanted, 1.0)
    claimed = await store.claim("cli-test", now=2.0, lease_until=50.0, limit=10)
    for delivery, state, status in zip(
        claimed, (DeliveryState.DELIVERED, DeliveryState.DEAD), (202, 500), strict=True
    ):
        await store.finish(
            delivery.id, "cli-test", state,
            status=status, error="" if status == 202 else "HTTP 500", next_attempt_at=0, now=3.0,
        )  # fmt: skip


def test_history_dead_letters_and_replay(tmp_path: Path) -> None:
    data = tmp_path / "data"
    database = SqliteDatabase(str(data / "dockyard" / "metadata.db"))
    asyncio.run(_two_deliveries(database))
    database.close()

    listed = events(data, "deliveries")
    assert listed.returncode == 0, listed.stderr
    history = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(d["event_id"], d["state"], d["last_status"]) for d in history] == [
        ("e2", "dead", 500), ("e1", "delivered", 202),
    ]  # fmt: skip
    dead = events(data, "deliveries", "--state", "dead", "--subscription", "notifications:ci")
    (letter,) = [json.loads(line) for line in dead.stdout.splitlines()]
    assert (letter["event_id"], letter["last_error"]) == ("e2", "HTTP 500")

    not_dead = events(data, "replay", str(history[1]["id"]))
    assert not_dead.returncode == 1 and "not a dead letter" in not_dead.stderr
    replayed = events(data, "replay", "--dead")
    assert replayed.returncode == 0 and replayed.stdout.startswith("1 dead deliveries")
    (again,) = [json.loads(line) for line in events(data, "deliveries").stdout.splitlines()[:1]]
    assert (again["event_id"], again["state"], again["attempts"]) == ("e2", "pending", 0)
    assert events(data, "deliveries", "--state", "dead").stdout == ""
