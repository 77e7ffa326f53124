"""The pull gate's logic with stand-in checks (pure logic, no I/O): a check that does not
apply costs no verdict; verdicts are cached per (repository, digest, scopes) and made again
when a scope changes, the verdict lifetime passes or ``forget`` is called; deny, warn and
audit outcomes; a cached refusal raises a new error each time; tag pushes."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable, Sequence

import pytest

from dockyard.auth.principal import Principal
from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.persistence.records import ManifestRecord
from dockyard.services.trust.gate import ADMITTED, ALLOW, AUDIT, DENY, WARN, PullGate, Verdict

RECORD = ManifestRecord("sha256:" + "a" * 64, "application/vnd.oci.image.manifest.v1+json", b"{}")
WHO = Principal("tester")


class Check:
    """Applies to repositories under ``covered/``; judges with ``outcome``."""

    def __init__(self, outcome: str = ALLOW) -> None:
        self.outcome, self.version, self.judged, self.refreshed = outcome, 1, 0, 0
        self.fresh_until = float("-inf")

    async def refresh(self) -> None:
        self.refreshed += 1
        self.fresh_until = float("inf")

    def scope(self, repository: str) -> Hashable | None:
        return self.version if repository.startswith("covered/") else None

    async def judge(self, repository: str, record: ManifestRecord) -> Sequence[Verdict]:
        self.judged += 1
        return [Verdict(self.outcome, "rule A", "because")]

    async def judge_tag_push(self, repository: str, record: ManifestRecord) -> Sequence[Verdict]:
        return [Verdict(self.outcome, "push rule", "unsigned")]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_check_that_does_not_apply_makes_no_verdict() -> None:
    asyncio.run(_a_check_that_does_not_apply_makes_no_verdict())


async def _a_check_that_does_not_apply_makes_no_verdict() -> None:
    check = Check(DENY)
    gate = PullGate([check])
    assert await gate.admit(WHO, "open/app", RECORD) is ADMITTED
    assert check.judged == 0 and check.refreshed == 1


def test_verdicts_are_cached_until_scope_time_or_forget_change() -> None:
    asyncio.run(_verdicts_are_cached_until_scope_time_or_forget_change())


async def _verdicts_are_cached_until_scope_time_or_forget_change() -> None:
    check, clock = Check(), Clock()
    gate = PullGate([check], ttl_seconds=10, clock=clock)
    for _ in range(3):
        assert await gate.admit(WHO, "covered/app", RECORD) is ADMITTED
    assert check.judged == 1
    check.version = 2  # a policy changed
    await gate.admit(WHO, "covered/app", RECORD)
    assert check.judged == 2
    clock.now += 11  # the verdict lived its time
    await gate.admit(WHO, "covered/app", RECORD)
    assert check.judged == 3
    gate.forget()  # a signature was pushed
    await gate.admit(WHO, "covered/app", RECORD)
    assert check.judged == 4


def test_deny_is_a_403_naming_the_rule_each_time() -> None:
    asyncio.run(_deny_is_a_403_naming_the_rule_each_time())


async def _deny_is_a_403_naming_the_rule_each_time() -> None:
    gate = PullGate([Check(DENY)])
    errors = []
    for _ in range(2):
        with pytest.raises(RegistryError) as caught:
            await gate.admit(WHO, "covered/app", RECORD)
        errors.append(caught.value)
    assert errors[0] is not errors[1]  # a cached refusal raises a fresh error
    for error in errors:
        assert error.code is ErrorCode.DENIED
        assert "refused by rule A: because" in str(error.message)
        assert error.detail == {"rule": "rule A", "rules": ["rule A"]}


def test_warn_gives_a_warning_header_and_audit_records_once() -> None:
    asyncio.run(_warn_gives_a_warning_header_and_audit_records_once())


async def _warn_gives_a_warning_header_and_audit_records_once() -> None:
    audited: list[tuple[str, str, dict[str, str]]] = []

    async def audit(who: Principal, event: str, target: str, detail: dict[str, str]) -> None:
        audited.append((event, target, detail))

    gate = PullGate([Check(WARN)], audit=audit)
    for _ in range(2):
        admission = await gate.admit(WHO, "covered/app", RECORD)
        assert admission.header() == b'299 - "rule A: because"'
    assert [(event, detail["outcome"]) for event, _, detail in audited] == [("pull.policy", "warn")]
    quiet = PullGate([Check(AUDIT)], audit=audit)
    assert (await quiet.admit(WHO, "covered/app", RECORD)).header() is None
    assert audited[-1][2]["outcome"] == "audit"


def test_tag_push_denials() -> None:
    asyncio.run(_tag_push_denials())


async def _tag_push_denials() -> None:
    await PullGate([Check(ALLOW)]).admit_tag_push(WHO, "covered/app", RECORD)
    await PullGate([Check(DENY)]).admit_tag_push(WHO, "open/app", RECORD)
    with pytest.raises(RegistryError, match="push by digest, sign it, then tag it"):
        await PullGate([Check(DENY)]).admit_tag_push(WHO, "covered/app", RECORD)
