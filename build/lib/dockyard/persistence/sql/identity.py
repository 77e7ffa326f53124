"""Helpers shared by the identity stores: the change generation, LIKE patterns, booleans."""

from __future__ import annotations

from dockyard.core.events import Event
from dockyard.persistence.sql.outbox import record
from dockyard.persistence.sql.session import Session

BUMP = "UPDATE identity_state SET generation = generation + 1 WHERE id = 1"


async def bump(session: Session, event: Event | None = None) -> None:
    """Record that identity data changed (in the caller's transaction), with the change's
    domain event when the service made one (``project.created``, ``member.removed``...)."""
    await session.execute(BUMP)
    if event is not None:
        await record(session, event)


async def generation(session: Session) -> int:
    row = await session.fetchone("SELECT generation FROM identity_state WHERE id = 1")
    return int(row[0]) if row else 0


def contains(text: str) -> str:
    """A ``LIKE ? ESCAPE '!'`` pattern matching names that contain ``text``."""
    escaped = text.replace("!", "!!").replace("%", "!%").replace("_", "!_")
    return f"%{escaped}%"


def flag(value: object) -> bool:
    return bool(value)


def prefix_bounds(project: str) -> tuple[str, str]:
    """``name >= ? AND name < ?`` bounds selecting the repositories ``project/...``."""
    return f"{project}/", f"{project}0"  # "0" is the byte after "/"
