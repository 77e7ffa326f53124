"""Overlay ``REGISTRY_*`` environment variables onto raw config data, as registry:2 does.

``REGISTRY_A_B_C=value`` sets key ``a.b.c``; components match field names case-insensitively
(registry:2 keys never contain ``_``). The value is parsed as YAML, except that a
string-typed key takes the text verbatim when YAML would read it as something else
(``REGISTRY_HTTP_SECRET=0x10`` stays ``"0x10"``). Variables are applied in sorted order, so
``REGISTRY_AUTH=htpasswd`` lands before ``REGISTRY_AUTH_HTPASSWD_PATH``.

One-of sections (``storage`` drivers, ``auth`` methods): a plain string selects a choice
(``REGISTRY_STORAGE=filesystem``); choosing one from the environment, by name or by setting
one of its keys, drops whatever choice the file made. Other storage keys (``delete``,
``maintenance``...) are kept.

A variable that names no key is ignored with a warning, as registry:2 does: orchestrators
inject ``REGISTRY_PORT`` for a service called ``registry``, and podman and skopeo users set
``REGISTRY_AUTH_FILE`` for their own credentials. Nothing is changed for such a variable (a
one-of choice is not made by it). A variable that names a key but holds a bad value is a
:class:`ConfigError` naming the variable; unknown keys in the config FILE stay errors too.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import msgspec.inspect as mi
import yaml

from dockyard.config.errors import ConfigError
from dockyard.config.shape import child_type, choices_of, field_named, root_type, unwrap

PREFIX = "REGISTRY_"
# Read by the entry point (which file to load), not a config key.
NOT_KEYS = frozenset({"REGISTRY_CONFIGURATION_PATH"})

Path = tuple[str, ...]
_log = logging.getLogger(__name__)


def dotted(path: Path) -> str:
    """Render a key path: ``("http", "tls", "clientcas", "0")`` -> ``http.tls.clientcas[0]``."""
    out = ""
    for part in path:
        out += f"[{part}]" if part.isdigit() and out else f".{part}" if out else part
    return out


def apply_env(raw: dict[str, Any], environ: Mapping[str, str]) -> dict[Path, str]:
    """Apply every ``REGISTRY_*`` variable to ``raw`` in place.

    Returns which key path each variable set, so later errors can name the variable.
    """
    overlay = _Overlay()
    for name in sorted(environ):
        if name.startswith(PREFIX) and name not in NOT_KEYS:
            overlay.apply(raw, name, environ[name])
    return overlay.origins


class _Overlay:
    def __init__(self) -> None:
        self.origins: dict[Path, str] = {}
        self.chosen: dict[Path, set[str]] = {}  # one-of choices made by the environment
        self.name = ""
        self.text = ""

    def apply(self, raw: dict[str, Any], name: str, text: str) -> None:
        parts = name[len(PREFIX) :].split("_")
        if not all(parts):
            raise ConfigError(f"{name}: malformed variable name", key=name)
        self.name, self.text = name, text
        if parts == ["LOGLEVEL"]:  # registry:2's deprecated top-level key
            raw["loglevel"] = self._value(mi.StrType())
            return
        if not names_a_key(root_type(), parts):
            _log.warning("ignoring unrecognized environment variable %s", name)
            return
        path = self._walk(raw, root_type(), parts, ())
        self.origins[path] = name

    def _walk(self, node: Any, t: mi.Type, parts: list[str], done: Path) -> Path:
        t = unwrap(t)
        head, rest = parts[0], parts[1:]
        if isinstance(t, mi.StructType):
            f = field_named(t, head.lower())
            if f is None:
                raise self._error(f"unknown key {dotted((*done, head.lower()))}")
            if f.encode_name in choices_of(t):
                self._choose(node, t, done, {f.encode_name})
            return self._step(node, f.encode_name, f.type, rest, done)
        if isinstance(t, mi.ListType):
            if not head.isdigit() or int(head) > len(node):
                raise self._error(f"{dotted(done)}: no list index {head}")
            if int(head) == len(node):
                node.append(None)
            return self._step(node, int(head), t.item_type, rest, done)
        if isinstance(t, mi.DictType | mi.AnyType):
            return self._step(node, head.lower(), child_type(t), rest, done)
        raise self._error(f"{dotted(done)} is a {type(t).__name__[:-4].lower()}, not a section")

    def _step(self, node: Any, key: Any, t: mi.Type, rest: list[str], done: Path) -> Path:
        path = (*done, str(key))
        if not rest:
            node[key] = self._final_value(node, key, t, path)
            return path
        want_list = isinstance(unwrap(t), mi.ListType)
        current = node[key] if _has(node, key) else None
        if not isinstance(current, list if want_list else dict):
            current = [] if want_list else {}
            node[key] = current
        return self._walk(current, t, rest, path)

    def _final_value(self, node: Any, key: Any, t: mi.Type, path: Path) -> Any:
        inner = unwrap(t)
        value = self._value(inner)
        if isinstance(inner, mi.StructType) and choices_of(inner):
            return self._one_of(node, key, inner, path, value)
        return value

    def _one_of(self, node: Any, key: Any, t: mi.StructType, path: Path, value: Any) -> Any:
        """Setting a whole one-of section: a string selects a choice, keeping other keys."""
        if isinstance(value, str):
            current = node[key] if _has(node, key) and isinstance(node[key], dict) else {}
            kept = {k: v for k, v in current.items() if k not in choices_of(t)}
            self.chosen[path] = {value}
            return {**kept, value: {}}
        if isinstance(value, dict):
            self.chosen[path] = {k for k in value if k in choices_of(t)}
        return value

    def _choose(self, node: dict[str, Any], t: mi.StructType, path: Path, picked: set[str]) -> None:
        """The environment picks a choice: forget choices that came from the file."""
        keep = self.chosen.setdefault(path, set())
        keep |= picked
        for other in choices_of(t):
            if other not in keep:
                node.pop(other, None)

    def _value(self, t: mi.Type) -> Any:
        try:
            value = yaml.safe_load(self.text)
        except yaml.YAMLError:
            if isinstance(t, mi.StrType):
                return self.text
            raise self._error("value is not valid YAML") from None
        if isinstance(t, mi.StrType) and not isinstance(value, str):
            return self.text
        return value

    def _error(self, message: str) -> ConfigError:
        return ConfigError(f"{self.name}: {message}", key=self.name)


def names_a_key(t: mi.Type, parts: list[str]) -> bool:
    """Whether ``parts`` (the variable's name, split at ``_``) is a key path of type ``t``.

    A list takes a numeric index (its range is checked later).
    """
    for part in parts:
        t = unwrap(t)
        if isinstance(t, mi.StructType):
            f = field_named(t, part.lower())
            if f is None:
                return False
            t = f.type
        elif isinstance(t, mi.ListType):
            if not part.isdigit():
                return False
            t = t.item_type
        else:  # free-form maps take any key below; a scalar has none
            return isinstance(t, mi.DictType | mi.AnyType)
    return True


def _has(node: Any, key: Any) -> bool:
    if isinstance(node, list):
        return isinstance(key, int) and key < len(node)
    return isinstance(node, dict) and key in node
