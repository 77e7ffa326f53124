"""The pull-time gate: a list of checks, each judging a manifest about to be served.

A check (``PullCheck``) says first, cheaply and from memory, whether it applies to a
repository and under which version of its rules and data (``scope``); only when one applies
does the gate look for a cached verdict for (repository, digest, every scope), and only on a
miss does it ask the checks to ``judge``. So a repository no check covers costs one call per
check, and a cached verdict costs a dictionary look-up.

A verdict is ``allow``, ``warn`` or ``deny`` with the rule that gave it and a message: a deny
refuses the pull with 403 DENIED naming the rule; a warn lets it through with a ``Warning``
header; ``audit`` verdicts let it through silently. Warn and audit verdicts are written to the
audit log when they are made (once per verdict lifetime on a node, not on every pull).

A later check (a vulnerability-severity policy) plugs in by implementing ``PullCheck``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Protocol

from dockyard.auth.principal import Principal
from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.persistence.records import ManifestRecord

ALLOW, WARN, DENY, AUDIT = "allow", "warn", "deny", "audit"
VERDICT_SECONDS = 15.0  # other nodes' signature pushes are seen at the latest after this
MAX_CACHED = 50_000


@dataclass(frozen=True, slots=True)
class Verdict:
    outcome: str  # allow | warn | deny | audit (allowed, recorded in the audit log)
    rule: str
    message: str


class PullCheck(Protocol):
    @property
    def fresh_until(self) -> float:
        """Until when (``time.monotonic``) ``scope`` may answer from memory."""
        ...

    async def refresh(self) -> None:
        """Read the check's rules again (the gate calls it once ``fresh_until`` passed)."""
        ...

    def scope(self, repository: str) -> Hashable | None:
        """From memory: None when the check does not apply to ``repository``; otherwise a
        value that changes whenever a verdict made before could be wrong now (the version of
        the rules that apply)."""
        ...

    async def judge(self, repository: str, record: ManifestRecord) -> Sequence[Verdict]: ...

    async def judge_tag_push(self, repository: str, record: ManifestRecord) -> Sequence[Verdict]:
        """Verdicts on moving a tag onto ``record`` (only denials count); () when the check
        has nothing to say about pushes."""
        ...


Auditor = Callable[[Principal, str, str, dict[str, str]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Admission:
    warnings: tuple[str, ...] = ()

    def header(self) -> bytes | None:
        if not self.warnings:
            return None
        text = "; ".join(self.warnings).replace('"', "'")
        text = "".join(c if c.isprintable() else " " for c in text)[:1000]
        return f'299 - "{text}"'.encode("ascii", "replace")  # header values stay ASCII


ADMITTED = Admission()


class PullGate:
    def __init__(
        self,
        checks: Sequence[PullCheck],
        *,
        audit: Auditor | None = None,
        ttl_seconds: float = VERDICT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.checks = tuple(checks)
        self.audit, self.ttl_seconds, self.clock = audit, ttl_seconds, clock
        # (repository, digest) -> (scopes, good until, the admission or the refusal)
        self._verdicts: dict[tuple[str, str], tuple[tuple[Hashable, ...], float, Answer]] = {}

    async def admit(
        self, principal: Principal, repository: str, record: ManifestRecord
    ) -> Admission:
        """ADMITTED, an Admission with warnings, or RegistryError DENIED. The hot path: a
        repository no check covers, or a cached verdict, costs a few dictionary look-ups."""
        now = self.clock()
        scopes: tuple[Hashable, ...] = ()
        for check in self.checks:
            if check.fresh_until <= now:
                await check.refresh()
            scope = check.scope(repository)
            if scope is not None:
                scopes += (scope,)
        if not scopes:
            return ADMITTED
        cached = self._verdicts.get((repository, record.digest))
        if cached is not None and cached[0] == scopes and cached[1] > now:
            answer = cached[2]
            return answer if answer is ADMITTED else _answer(answer)
        return await self._judge(principal, repository, record, scopes)

    async def _judge(
        self,
        principal: Principal,
        repository: str,
        record: ManifestRecord,
        scopes: tuple[Hashable, ...],
    ) -> Admission:
        verdicts: list[Verdict] = []
        for check in self.checks:
            if check.scope(repository) is not None:
                verdicts += await check.judge(repository, record)
        await self._audit(principal, repository, record.digest, verdicts)
        answer = _admission(verdicts, repository, record.digest)
        if len(self._verdicts) >= MAX_CACHED:
            self._verdicts.clear()
        expires = self.clock() + self.ttl_seconds
        self._verdicts[repository, record.digest] = (scopes, expires, answer)
        return _answer(answer)

    async def admit_tag_push(
        self, principal: Principal, repository: str, record: ManifestRecord
    ) -> None:
        """Refuse (DENIED) tagging ``record`` when a check's push rules deny it."""
        verdicts: list[Verdict] = []
        for check in self.checks:
            if check.fresh_until <= self.clock():
                await check.refresh()
            if check.scope(repository) is not None:
                verdicts += await check.judge_tag_push(repository, record)
        denied = [v for v in verdicts if v.outcome == DENY]
        if denied:
            await self._audit(principal, repository, record.digest, denied)
            raise RegistryError(
                ErrorCode.DENIED,
                f"tag push of {repository}@{record.digest} refused by {denied[0].rule}: "
                f"{denied[0].message}; push by digest, sign it, then tag it",
                detail={"rule": denied[0].rule, "rules": [v.rule for v in denied]},
            )

    def forget(self) -> None:
        """Drop every cached verdict (a signature was pushed or deleted on this node)."""
        self._verdicts.clear()

    async def _audit(
        self, principal: Principal, repository: str, digest: str, verdicts: Sequence[Verdict]
    ) -> None:
        if self.audit is None:
            return
        for verdict in verdicts:
            if verdict.outcome in (WARN, AUDIT, DENY):
                detail = {"rule": verdict.rule, "outcome": verdict.outcome}
                detail["message"] = verdict.message
                target = f"{repository}@{digest}"
                await self.audit(principal, "pull.policy", target, detail)


@dataclass(frozen=True, slots=True)
class Refusal:
    message: str
    rules: tuple[str, ...]


Answer = Admission | Refusal


def _answer(answer: Admission | Refusal) -> Admission:
    """The admission, or a new DENIED error for a refusal (each request raises its own)."""
    if isinstance(answer, Refusal):
        detail = {"rule": answer.rules[0], "rules": list(answer.rules)}
        raise RegistryError(ErrorCode.DENIED, answer.message, detail=detail)
    return answer


def _admission(verdicts: Sequence[Verdict], repository: str, digest: str) -> Admission | Refusal:
    denied = [v for v in verdicts if v.outcome == DENY]
    if denied:
        first = denied[0]
        message = f"pull of {repository}@{digest} refused by {first.rule}: {first.message}"
        return Refusal(message, tuple(v.rule for v in denied))
    warnings = tuple(f"{v.rule}: {v.message}" for v in verdicts if v.outcome == WARN)
    return Admission(warnings) if warnings else ADMITTED
