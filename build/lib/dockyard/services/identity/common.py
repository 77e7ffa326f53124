"""Shared by the identity services: errors, pages, the management context."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from dockyard.auth.policy import AccessPolicy
from dockyard.core.errors import ErrorCode, RegistryError

if TYPE_CHECKING:
    from dockyard.auth.principal import Principal
    from dockyard.services.identity.audit import AuditLog
    from dockyard.services.identity.directory import IdentityDirectory

T = TypeVar("T")
PAGE_DEFAULT = 50
PAGE_MAX = 500


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next: str | None = None  # the cursor of the next page, None on the last


def page_of(items: list[T], limit: int, cursor: Callable[[T], str]) -> Page[T]:
    """``items`` holds up to ``limit + 1`` rows: more than ``limit`` means another page."""
    if len(items) > limit:
        return Page(items[:limit], cursor(items[limit - 1]))
    return Page(items)


def clamp(limit: int | None) -> int:
    if limit is None:
        return PAGE_DEFAULT
    if limit < 1:
        raise bad_request("limit must be at least 1")
    return min(limit, PAGE_MAX)


def bad_request(message: str, **detail: Any) -> RegistryError:
    return RegistryError(ErrorCode.BAD_REQUEST, message, detail=detail or None)


def not_found(kind: str, name: object) -> RegistryError:
    return RegistryError(
        ErrorCode.NOT_FOUND, f"{kind} not found", detail={"kind": kind, "name": str(name)}
    )


def conflict(message: str, **detail: Any) -> RegistryError:
    return RegistryError(ErrorCode.CONFLICT, message, detail=detail or None)


def to_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


@dataclass(frozen=True, slots=True)
class IdentityOptions:
    """Settings the identity services act on (``dockyard.identity``)."""

    password_cost: int = 12
    create_on_push: bool = False
    login_attempts: int = 10
    client_attempts: int = 50
    login_window: float = 300.0
    audit_pulls: bool = True  # manifest pulls in the audit log (dockyard.identity.auditpulls)


@dataclass(frozen=True, slots=True)
class Guard:
    """What every management service needs besides its stores."""

    policy: AccessPolicy
    options: IdentityOptions


async def record_change(
    directory: IdentityDirectory,
    audit: AuditLog,
    actor: Principal,
    event: str,
    target: str,
    **detail: object,
) -> None:
    """A change to who may do what: drop the cached grants, then write the audit entry."""
    directory.invalidate()
    await audit.record(actor, event, target, detail=dict(detail))
