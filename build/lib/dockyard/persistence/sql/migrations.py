"""Schema migrations as steps that can be planned, applied and (when they say how) undone.

Each backend's ``MIGRATIONS`` tuple lists the steps in order; step *n* (1-based) takes the
schema from version *n - 1* to *n*. A step is the SQL that applies it, or a
:class:`Migration` that also carries the SQL undoing it, so that ``dockyard migrate --to N``
can take the schema back to an older version for a downgrade (docs/database.md).

Rules for new steps (expand, then contract): a step may add tables, columns with defaults and
indexes, so that a node of the previous version keeps working on the new schema during a
rolling upgrade; a step that removes or renames what the previous version reads waits for a
later release. Every step from :data:`FIRST_UNDOABLE` on carries its ``down``
(tests/unit/persistence/test_persistence_migrations.py checks it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dockyard.core.errors import MigrationError

FIRST_UNDOABLE = 13  # steps before it predate downgrades and cannot be undone


@dataclass(frozen=True)
class Migration:
    """A step with the SQL that applies it and the SQL that undoes it (None: cannot)."""

    up: str
    down: str | None = None


Step = str | Migration


@dataclass(frozen=True)
class PlannedStep:
    number: int  # the step's version: applying it leads to it, undoing it leaves it
    direction: str  # "up" or "down"
    script: str

    @property
    def summary(self) -> str:
        """The step's first statement, on one line (``CREATE TABLE jobs``)."""
        for line in self.script.strip().splitlines():
            words = line.split("(")[0].split()
            if words:
                return " ".join(words)[:80]
        return "(empty)"


@dataclass(frozen=True)
class Plan:
    current: int
    target: int
    steps: tuple[PlannedStep, ...]


def up_script(step: Step) -> str:
    return step.up if isinstance(step, Migration) else step


def down_script(step: Step) -> str | None:
    return step.down if isinstance(step, Migration) else None


def plan(steps: Sequence[Step], current: int, target: int | None = None) -> Plan:
    """What moving the schema from ``current`` to ``target`` (default: the newest) runs."""
    known = len(steps)
    goal = known if target is None else target
    if not 0 <= goal <= known:
        raise MigrationError(f"no schema version {goal}: this dockyard knows 0 to {known}")
    if current > known:
        raise MigrationError(
            f"the schema is at version {current}, newer than this dockyard knows ({known}); "
            "run the newer dockyard to go back"
        )
    if goal >= current:
        forward = tuple(
            PlannedStep(n, "up", up_script(steps[n - 1])) for n in range(current + 1, goal + 1)
        )
        return Plan(current, goal, forward)
    backward = []
    for number in range(current, goal, -1):
        script = down_script(steps[number - 1])
        if script is None:
            raise MigrationError(
                f"schema version {number} cannot be undone (only steps from "
                f"{FIRST_UNDOABLE} on can); restore a backup taken before the upgrade"
            )
        backward.append(PlannedStep(number, "down", script))
    return Plan(current, goal, tuple(backward))
