"""Bring raw YAML data into the shapes msgspec will check, the way registry:2 reads them.

* ``key:`` with no value (YAML null) means "not set": the default applies. For a one-of
  choice (``storage: {inmemory: }``, ``auth: {htpasswd: }``) it selects that choice.
* A one-of section given as a plain string selects that choice (``storage: filesystem``).
* Numbers where a string is expected become strings (``version: 0.1``, ``secret: 1234``).
* ``loglevel`` (registry:2's deprecated top-level key) moves to ``log.level``; log levels
  are case-insensitive.
"""

from __future__ import annotations

from typing import Any

import msgspec.inspect as mi

from dockyard.config.shape import child_type, choices_of, field_named, unwrap

_DROP: Any = object()


def normalize(value: Any, t: mi.Type) -> Any:
    """Return ``value`` reshaped for type ``t`` (``_DROP`` means: remove this key)."""
    t = unwrap(t)
    if isinstance(t, mi.StructType):
        return _struct(value, t)
    if isinstance(t, mi.DictType | mi.ListType):
        return _container(value, t)
    if value is None:
        return _DROP if not isinstance(t, mi.AnyType) else None
    if isinstance(t, mi.StrType) and isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


def _struct(value: Any, t: mi.StructType) -> Any:
    choices = choices_of(t)
    if value is None:
        return {}
    if isinstance(value, str) and choices:
        return {value: {}}
    if not isinstance(value, dict):
        return value  # msgspec reports the type error with its path
    out: dict[Any, Any] = {}
    for key, item in value.items():
        f = field_named(t, key) if isinstance(key, str) else None
        if f is None:
            out[key] = item  # unknown key: msgspec reports it
            continue
        fixed = normalize({} if item is None and key in choices else item, f.type)
        if fixed is not _DROP:
            out[key] = fixed
    return out


def _container(value: Any, t: mi.Type) -> Any:
    inner = child_type(t)
    if value is None:
        return {} if isinstance(t, mi.DictType) else []
    if isinstance(value, dict) and isinstance(t, mi.DictType):
        items = {k: normalize(v, inner) for k, v in value.items()}
        return {k: v for k, v in items.items() if v is not _DROP}
    if isinstance(value, list) and isinstance(t, mi.ListType):
        return [None if (v := normalize(item, inner)) is _DROP else v for item in value]
    return value


def legacy_fixups(raw: dict[str, Any]) -> None:
    """Apply registry:2's own compatibility rules to the top level, in place."""
    log = raw.get("log")
    if "loglevel" in raw:
        legacy = raw.pop("loglevel")
        if log is None:
            log = raw["log"] = {}
        if isinstance(log, dict) and log.get("level") in (None, ""):
            log["level"] = legacy
    if isinstance(log, dict) and isinstance(log.get("level"), str):
        log["level"] = log["level"].lower()
