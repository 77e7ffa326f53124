"""``dockyard jobs``: the overview with the dead letters, and ``retry ID`` (audited), run
in-process against a real SQLite data directory."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from dockyard.cli.main import main
from dockyard.persistence.sql.jobs import SqlJobStore
from dockyard.persistence.sqlite import SqliteDatabase
from dockyard.services.jobs.queue import JobQueue


def _dead_job(data: Path) -> int:
    database = SqliteDatabase(str(data / "dockyard" / "metadata.db"))
    queue = JobQueue(SqlJobStore(database, skip_locked=False), owner="node-a:1:x")

    async def bury() -> int:
        job_id = await queue.enqueue("upload.purge", {"why": "test"}, max_attempts=1)
        job = await queue.claim(["upload.purge"])
        assert job is not None and job.id == job_id
        assert await queue.fail(job, "storage unavailable") == "dead"
        return job.id

    try:
        return asyncio.run(bury())
    finally:
        database.close()


def test_show_and_retry_a_dead_letter(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY", raising=False)
    data = tmp_path / "data"
    (data / "dockyard").mkdir(parents=True)
    job_id = _dead_job(data)

    assert main(["jobs", "--data-dir", str(data)]) == 0
    shown = capsys.readouterr().out
    assert "upload.purge: waiting 0; running 0; dead 1;" in shown, shown
    assert f"#{job_id} upload.purge after 1 of 1 attempts" in shown
    assert "storage unavailable" in shown and '{"why":"test"}' in shown

    assert main(["jobs", "retry", str(job_id), "--data-dir", str(data)]) == 0
    assert f"job {job_id} queued again" in capsys.readouterr().out
    assert main(["jobs", "retry", str(job_id), "--data-dir", str(data)]) == 1
    assert "it is queued, not dead" in capsys.readouterr().err
    assert main(["jobs", "retry", "999", "--data-dir", str(data)]) == 1
    assert "no such job" in capsys.readouterr().err

    with sqlite3.connect(data / "dockyard" / "metadata.db") as conn:
        state = conn.execute("SELECT state, attempts FROM jobs WHERE id = ?", (job_id,))
        assert state.fetchone() == ("queued", 0)
        audited = conn.execute("SELECT event, target FROM audit_log").fetchall()
    assert audited == [("jobs.retry", f"job:{job_id}")]
