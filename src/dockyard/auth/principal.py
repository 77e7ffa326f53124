"""The authenticated caller."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Principal:
    """A caller: a named user, or anonymous when authentication is off."""

    name: str
    authenticated: bool = True

    @property
    def is_anonymous(self) -> bool:
        return not self.authenticated


ANONYMOUS = Principal("", authenticated=False)
