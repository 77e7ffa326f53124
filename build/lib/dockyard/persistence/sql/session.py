"""What the shared stores need from a database: statements, transactions and a lifecycle.

Queries are written once, with ``?`` placeholders, in the SQL both SQLite and PostgreSQL
accept; each backend runs them (PostgreSQL rewrites ``?`` to ``%s``). A backend is a
:class:`Database`: single statements run on their own (autocommit), and ``transaction(work)``
runs ``work`` in one transaction, committing when it returns and rolling back when it raises.
``work`` may be run more than once (PostgreSQL retries serialization failures), so it must only
touch the database through the session it is given and compute nothing it cannot recompute.

The few reads on the registry's hot path (a manifest GET) are declared as a :class:`Lookup`
and run with ``Database.lookup``: SQLite runs them as any ``fetchone``, PostgreSQL as named
prepared statements straight through libpq (``postgres/lookups.py``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from dockyard.persistence.sql.migrations import Plan

Params = Sequence[Any]
Row = tuple[Any, ...]
T = TypeVar("T")

# SQLite's limit on bound variables is 32766; PostgreSQL's is 65535. Stay far below both.
IN_LIST_CHUNK = 500


@dataclass(frozen=True, slots=True)
class Lookup:
    """A hot single-row SELECT: text parameters only, every column TEXT or BYTEA.

    ``name`` is unique among lookups (PostgreSQL prepares it under that name); ``columns``
    says, per column, whether it comes back as ``str`` or as ``bytes``.
    """

    name: str
    sql: str
    columns: tuple[type[str] | type[bytes], ...]


class Session(Protocol):
    """Runs statements; inside ``Database.transaction`` all of them belong to one transaction."""

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None: ...
    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]: ...
    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; return the number of rows it changed."""
        ...

    async def executemany(self, sql: str, rows: Sequence[Params]) -> None: ...


class Database(Session, Protocol):
    """A metadata database: statements on their own, transactions, schema and lifecycle."""

    async def transaction(self, work: Callable[[Session], Awaitable[T]]) -> T: ...

    async def lookup(self, query: Lookup, params: tuple[str, ...]) -> Row | None:
        """The first row of ``query`` (on its own, autocommit), or None."""
        ...

    async def migrate(self) -> int:
        """Apply pending schema migrations; return the schema version."""
        ...

    async def migration_plan(self, target: int | None = None) -> Plan:
        """What moving the schema to ``target`` (default: the newest) would run."""
        ...

    async def migrate_to(self, target: int) -> int:
        """Move the schema to version ``target``, forward or back (``dockyard migrate --to``)."""
        ...

    async def open(self) -> None:
        """Connect (a pool, for a server) and migrate; called in the worker that serves."""
        ...

    async def aclose(self) -> None: ...

    def close(self) -> None:
        """Release what can be released without an event loop (nothing is open after)."""
        ...


def placeholders(count: int) -> str:
    """``?, ?, ?`` for an ``IN (...)`` list of ``count`` values."""
    return ", ".join("?" * count)


def chunks(values: Sequence[str], size: int = IN_LIST_CHUNK) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
