"""Migration: the web UI's sessions (``ui_sessions``) and the key that signs its cookies
(``ui_keys``), shared by every process and node of one registry; and ``tags_pushed``, the
index that pages a repository's tags newest first.

A session row is found by the SHA-256 of its id (``id_hash``): the database never holds a
value a browser could present. ``expires_at`` (start + lifetime) and ``last_seen`` let expired
and idle sessions be pruned by index. No ``;`` inside literals (the SQLite runner splits
scripts on it).
"""

from __future__ import annotations

_UI_SESSIONS = """
CREATE TABLE ui_sessions (
    id_hash TEXT PRIMARY KEY,
    subject TEXT NOT NULL,
    via TEXT NOT NULL,
    csrf TEXT NOT NULL,
    started_at {real} NOT NULL,
    last_seen {real} NOT NULL,
    expires_at {real} NOT NULL
);
CREATE INDEX ui_sessions_expires ON ui_sessions(expires_at);
CREATE INDEX ui_sessions_seen ON ui_sessions(last_seen);
CREATE TABLE ui_keys (
    name TEXT PRIMARY KEY,
    secret TEXT NOT NULL
);
CREATE INDEX tags_pushed ON tags(repository_id, updated_at, name)
"""

_DIALECTS = {"sqlite": {"real": "REAL"}, "postgres": {"real": "DOUBLE PRECISION"}}


def ui_sessions_migration(dialect: str) -> str:
    """The UI session tables in ``dialect`` (``sqlite`` or ``postgres``)."""
    return _UI_SESSIONS.format(**_DIALECTS[dialect])


# Undoes the step (dockyard migrate --to): everyone signed in to the web UI is signed out.
UI_SESSIONS_DOWNGRADE = """
DROP INDEX tags_pushed;
DROP TABLE ui_keys;
DROP TABLE ui_sessions
"""
