"""The authenticated caller."""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.auth.scopes import AccessSet


@dataclass(frozen=True, slots=True)
class Principal:
    """A caller: a named user, or anonymous when authentication is off.

    ``access`` is set when the caller presented a bearer token: the token's ``access`` claim,
    which bounds what the caller may do whatever else the policy would allow.
    """

    name: str
    authenticated: bool = True
    access: AccessSet | None = None

    @property
    def is_anonymous(self) -> bool:
        return not self.authenticated


ANONYMOUS = Principal("", authenticated=False)
