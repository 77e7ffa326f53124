"""The authenticated caller."""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.auth.grants import Identity
from dockyard.auth.scopes import AccessSet


@dataclass(frozen=True, slots=True)
class Principal:
    """A caller: a named user, or anonymous when authentication is off.

    ``access`` is set when the caller presented a bearer token: the token's ``access`` claim,
    which bounds what the caller may do whatever else the policy would allow. ``identity`` is
    set when identity management is on (``dockyard.identity``): who the caller is in the
    database and what it grants them; None keeps registry:2's rules. ``client`` is where the
    request came from (for the audit log).
    """

    name: str
    authenticated: bool = True
    access: AccessSet | None = None
    identity: Identity | None = None
    client: str = ""

    @property
    def is_anonymous(self) -> bool:
        return not self.authenticated


ANONYMOUS = Principal("", authenticated=False)
