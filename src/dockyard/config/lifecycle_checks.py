"""Semantic checks of the lifecycle settings (``dockyard.gc``, ...), called by ``validate``."""

from __future__ import annotations

from typing import NoReturn

from dockyard.config.duration import checked_duration as _duration
from dockyard.config.errors import ConfigError
from dockyard.config.lifecycle import RetentionPolicySettings, parse_age, parse_limit
from dockyard.config.model import Settings
from dockyard.core.patterns import PatternError, validate_pattern


def _fail(key: str, message: str) -> NoReturn:
    raise ConfigError(f"{key}: {message}", key=key)


def check_lifecycle(settings: Settings) -> None:
    gc = settings.dockyard.gc
    _duration("dockyard.gc.interval", gc.interval, optional=True)
    _duration("dockyard.gc.grace", gc.grace)
    _check_quotas(settings)
    _check_retention(settings)
    for index, rule in enumerate(settings.dockyard.immutability.rules):
        key = f"dockyard.immutability.rules[{index}]"
        _pattern(f"{key}.repositories", rule.repositories)
        _pattern(f"{key}.tags", rule.tags, tag=True)


def _pattern(key: str, pattern: str, *, tag: bool = False) -> None:
    try:
        validate_pattern(pattern)
    except PatternError as exc:
        _fail(key, str(exc))
    if tag and "/" in pattern:
        _fail(key, "a tag pattern cannot contain /")


def _check_quotas(settings: Settings) -> None:
    quotas = settings.dockyard.quotas
    sizes = {"default": quotas.default}
    sizes.update({f"projects.{name}": text for name, text in quotas.projects.items()})
    for key, text in sizes.items():
        try:
            parse_limit(text)
        except ConfigError as exc:
            _fail(f"dockyard.quotas.{key}", exc.message)
    for key, percent in (("warn", quotas.warn), ("eventwarn", quotas.eventwarn)):
        if not 1 <= percent <= 100:
            _fail(f"dockyard.quotas.{key}", f"must be a percentage from 1 to 100, got {percent}")


def _check_retention(settings: Settings) -> None:
    retention = settings.dockyard.retention
    _duration("dockyard.retention.interval", retention.interval, optional=True)
    _duration("dockyard.retention.grace", retention.grace)
    if _duration("dockyard.retention.pullflush", retention.pullflush) <= 0:
        _fail("dockyard.retention.pullflush", "must be above zero")
    for index, policy in enumerate(retention.policies):
        _check_policy(f"dockyard.retention.policies[{index}]", policy)


def _check_policy(key: str, policy: RetentionPolicySettings) -> None:
    _pattern(f"{key}.repositories", policy.repositories)
    for number, pattern in enumerate(policy.keeptags):
        _pattern(f"{key}.keeptags[{number}]", pattern, tag=True)
    if policy.keeplast is not None and policy.keeplast < 0:
        _fail(f"{key}.keeplast", "must be at least 0")
    for name, text in (("olderthan", policy.olderthan), ("notpulledfor", policy.notpulledfor)):
        _age(f"{key}.{name}", text)
    criteria = (policy.keeplast is not None, policy.olderthan.strip(), policy.notpulledfor.strip())
    if not any(criteria) and not policy.untagged:
        _fail(key, "deletes nothing: set keeplast, olderthan, notpulledfor or untagged")


def _age(key: str, text: str) -> None:
    if not text.strip():
        return
    try:
        if parse_age(text) <= 0:
            _fail(key, "must be above zero")
    except ConfigError as exc:
        _fail(key, exc.message)
