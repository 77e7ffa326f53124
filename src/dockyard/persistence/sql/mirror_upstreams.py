"""The upstreams of the pull-through cache added at run time (table ``mirror_upstreams``).

Each row is one upstream: its unique name and prefix, and its spec as JSON text (the
service's to read). Every node re-reads the table every few seconds.
"""

from __future__ import annotations

from dockyard.persistence.sql.session import Database


class SqlMirrorUpstreams:
    def __init__(self, database: Database) -> None:
        self.db = database

    async def all_upstreams(self) -> list[tuple[str, str]]:
        """(name, spec) of every stored upstream, by name."""
        rows = await self.db.fetchall("SELECT name, spec FROM mirror_upstreams ORDER BY name", ())
        return [(str(row[0]), str(row[1])) for row in rows]

    async def add_upstream(self, name: str, prefix: str, spec: str, when: float) -> bool:
        """Store a new upstream; False when the name or the prefix is taken."""
        count = await self.db.execute(
            "INSERT INTO mirror_upstreams(name, prefix, spec, created_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT DO NOTHING",
            (name, prefix, spec, when),
        )
        return bool(count)

    async def remove_upstream(self, name: str) -> bool:
        """Forget an upstream; False when there was none of that name."""
        count = await self.db.execute("DELETE FROM mirror_upstreams WHERE name = ?", (name,))
        return bool(count)
