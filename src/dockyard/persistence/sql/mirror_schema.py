"""The pull-through cache's migrations: when the upstream last confirmed each cached tag.

``mirror_tags`` keeps, per (repository, tag), the digest the upstream named and when
(Unix time), so a restarted server still knows how stale a tag it serves while the upstream
is down is. ``mirror_upstreams`` holds the upstreams added at run time (``/api/v1/mirrors``),
one JSON spec per name, so every node serves the same set. One text for both backends,
rendered per dialect.
"""

from __future__ import annotations

_MIRROR_TAGS = """
CREATE TABLE mirror_tags (
    repository TEXT NOT NULL,
    tag TEXT NOT NULL,
    digest TEXT NOT NULL,
    confirmed_at {real} NOT NULL,
    PRIMARY KEY (repository, tag)
)
"""

_MIRROR_UPSTREAMS = """
CREATE TABLE mirror_upstreams (
    name TEXT PRIMARY KEY,
    prefix TEXT NOT NULL UNIQUE,
    spec TEXT NOT NULL,
    created_at {real} NOT NULL
)
"""

_DIALECTS = {"sqlite": {"real": "REAL"}, "postgres": {"real": "DOUBLE PRECISION"}}


def mirror_migration(dialect: str) -> str:
    return _MIRROR_TAGS.format(**_DIALECTS[dialect])


def mirror_upstreams_migration(dialect: str) -> str:
    return _MIRROR_UPSTREAMS.format(**_DIALECTS[dialect])


# Undoes the upstreams step (dockyard migrate --to): upstreams added through the API go.
MIRROR_UPSTREAMS_DOWNGRADE = "DROP TABLE mirror_upstreams"
