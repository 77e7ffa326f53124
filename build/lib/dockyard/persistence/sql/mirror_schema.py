"""The pull-through cache's migration: when the upstream last confirmed each cached tag.

``mirror_tags`` keeps, per (repository, tag), the digest the upstream named and when
(Unix time), so a restarted server still knows how stale a tag it serves while the upstream
is down is. One text for both backends, rendered per dialect.
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

_DIALECTS = {"sqlite": {"real": "REAL"}, "postgres": {"real": "DOUBLE PRECISION"}}


def mirror_migration(dialect: str) -> str:
    return _MIRROR_TAGS.format(**_DIALECTS[dialect])
