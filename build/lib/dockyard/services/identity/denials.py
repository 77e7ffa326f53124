"""Refused registry actions in the audit log, recorded where they are decided.

:class:`DeniedAccess` is the access policy's :class:`~dockyard.auth.policy.DenialObserver`:
every ``AccessPolicy.require`` that refuses (a pull, push or delete the caller's grants do not
allow: ``403 DENIED``) queues one ``access.denied`` row (outcome ``failure``, the action in its
detail) in the audit buffer, written in batches after the response. A refusal changes nothing,
so it is no domain event. Challenges (``401``, no or wrong credentials) are not recorded here:
a wrong password is a ``login`` failure, throttled logins and refused tokens are sampled by
``refusals.py``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from dockyard.auth.policy import Action
from dockyard.auth.principal import Principal
from dockyard.services.identity.audit import FAILURE, actor_kind
from dockyard.services.identity.audit_buffer import AuditBuffer, PendingEvent

EVENT = "access.denied"
STATUS = 403
TEXT_MAX = 300  # a name longer than the grammar allows is cut in the log


class DeniedAccess:
    def __init__(self, buffer: AuditBuffer, clock: Callable[[], float] = time.time) -> None:
        self.buffer = buffer
        self.clock = clock

    def denied(self, principal: Principal, action: Action, repository: str | None) -> None:
        """Queue the refusal (no I/O; dropped and counted when the queue is full). An
        anonymous caller is not recorded: it is asked for credentials (401) instead."""
        if not principal.authenticated:
            return
        detail: dict[str, object] = {"action": action.value, "status": STATUS}
        identity = principal.identity
        if identity is not None and identity.via:
            detail["via"] = identity.via
        target = f"repository:{repository[:TEXT_MAX]}" if repository else ""
        self.buffer.offer(
            PendingEvent(principal.name[:TEXT_MAX], actor_kind(principal), EVENT, FAILURE,
                         target, principal.client, detail, self.clock())
        )  # fmt: skip
