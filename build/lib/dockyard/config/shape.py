"""Walk the Settings type tree (via ``msgspec.inspect``) to guide raw-data handling.

The loader works on plain YAML data until the very end; these helpers tell it, for any
position, which type msgspec will expect there.
"""

from __future__ import annotations

import functools
from typing import Any

import msgspec.inspect as mi

from dockyard.config.model import Section, Settings


@functools.cache
def root_type() -> mi.StructType:
    """The type description of :class:`Settings` (computed on first use, not at import)."""
    info = mi.type_info(Settings)
    assert isinstance(info, mi.StructType)
    return info


def unwrap(t: mi.Type) -> mi.Type:
    """Strip ``X | None`` down to ``X``; other unions become ``Any``."""
    if isinstance(t, mi.UnionType):
        members = [m for m in t.types if not isinstance(m, mi.NoneType)]
        return members[0] if len(members) == 1 else mi.AnyType()
    return t


def field_named(t: mi.StructType, name: str) -> mi.Field | None:
    """The field of ``t`` whose YAML key is ``name`` (exact match)."""
    for f in t.fields:
        if f.encode_name == name:
            return f
    return None


def choices_of(t: mi.StructType) -> tuple[str, ...]:
    """The one-of choice fields of a section (empty for ordinary sections)."""
    cls: Any = t.cls
    return cls.choices if issubclass(cls, Section) else ()


def child_type(t: mi.Type) -> mi.Type:
    """The value type inside a dict or list type; Any for anything loose."""
    if isinstance(t, mi.DictType):
        return t.value_type
    if isinstance(t, mi.ListType):
        return t.item_type
    return mi.AnyType()
