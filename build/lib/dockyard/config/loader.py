"""Read config.yml, overlay the environment, check, and build the frozen Settings."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import msgspec
import yaml

from dockyard.config.env import Path, apply_env, dotted
from dockyard.config.errors import ConfigError
from dockyard.config.model import Settings
from dockyard.config.normalize import legacy_fixups, normalize
from dockyard.config.shape import root_type
from dockyard.config.validate import validate

# registry:2 storage drivers dockyard does not implement (for a clearer error).
FOREIGN_DRIVERS = frozenset({"azure", "gcs", "swift", "oss", "cos"})

_AT = re.compile(r"(?P<msg>.*?)(?: - at `\$(?P<where>[^`]*)`)?", re.DOTALL)
_STEP = re.compile(r"\.([^.\[]+)|\[([^\]]*)\]")
_UNKNOWN = re.compile(r"Object contains unknown field `(?P<name>.*)`")
_MISSING = re.compile(r"Object missing required field `(?P<name>.*)`")
_KEY_PART = re.compile(r"[^.\[\]]+")
_MAX_SHOWN = 60


def load_settings(path: str | None, environ: Mapping[str, str]) -> Settings:
    """Build Settings from the YAML file at ``path`` (if any) plus ``REGISTRY_*`` in ``environ``.

    Never reads ``os.environ`` itself. Every problem is a one-line :class:`ConfigError`.
    """
    raw = read_yaml(path) if path is not None else {}
    origins = apply_env(raw, environ)
    legacy_fixups(raw)
    data = normalize(raw, root_type())
    try:
        settings = msgspec.convert(data, Settings)
    except msgspec.ValidationError as exc:
        raise explain(exc, data, origins) from None
    try:
        validate(settings)
    except ConfigError as exc:
        origin = _origin(origins, tuple(_KEY_PART.findall(exc.key)))
        if origin:
            raise ConfigError(f"{origin}: {exc.message}", key=exc.key) from None
        raise
    return settings


def settings_json_schema() -> dict[str, Any]:
    """JSON Schema of the config file.

    String keys also accept numbers, as the loader does (``version: 0.1``, ``interval: 90``).
    Not expressed: ``key:`` with no value (null) meaning "default", and a one-of section
    (``storage``, ``auth``) given as a plain string.
    """
    schema = msgspec.json.schema(Settings)
    schema["title"] = "dockyard configuration (registry:2 config.yml plus a dockyard section)"
    _strings_accept_numbers(schema)
    return schema


def _strings_accept_numbers(node: Any) -> None:
    if isinstance(node, dict):
        if node.get("type") == "string" and len(node) <= 2 and set(node) <= {"type", "default"}:
            node["type"] = ["string", "number"]
        for value in node.values():
            _strings_accept_numbers(value)
    elif isinstance(node, list):
        for value in node:
            _strings_accept_numbers(value)


def read_yaml(path: str) -> dict[str, Any]:
    """Load the YAML mapping at ``path`` or raise a one-line ConfigError."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise ConfigError(f"file not found: {path}", key=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(f"cannot read {path}: {reason}", key=path) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML{_yaml_where(exc)}", key=path) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level", key=path)
    return data


def _yaml_where(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or ""
    if mark is None:
        return ""
    return f" at line {mark.line + 1} column {mark.column + 1}: {problem}".rstrip(": ")


def explain(exc: msgspec.ValidationError, data: Any, origins: Mapping[Path, str]) -> ConfigError:
    """Turn msgspec's message into ``<key path>: <problem>`` (plus the env var, if one set it)."""
    found = _AT.fullmatch(str(exc))
    message = found["msg"] if found else str(exc)
    where = (found["where"] if found else None) or ""
    path: Path = tuple(a or ("*" if b == "..." else b) for a, b in _STEP.findall(where))
    if unknown := _UNKNOWN.fullmatch(message):
        path = (*path, unknown["name"])
        text = f"unknown key {dotted(path)}{_foreign_hint(path)}"
    elif missing := _MISSING.fullmatch(message):
        path = (*path, missing["name"])
        text = f"{dotted(path)}: required key missing"
    else:
        plain = message.replace("`", "")
        problem = plain[:1].lower() + plain[1:] + _shown(data, path)
        text = f"{dotted(path) or '(top level)'}: {problem}"
    origin = _origin(origins, path)
    return ConfigError(f"{origin}: {text}" if origin else text, key=dotted(path))


def _foreign_hint(path: Path) -> str:
    if len(path) == 2 and path[0] == "storage" and path[1] in FOREIGN_DRIVERS:
        return " (storage driver not supported by dockyard; use filesystem, inmemory or s3)"
    return ""


def _shown(data: Any, path: Path) -> str:
    """The offending value, JSON-quoted and shortened, or "" if it cannot be found."""
    node = data
    for part in path:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return ""
    if isinstance(node, dict | list):
        return ""
    shown = json.dumps(node, default=str)
    return " " + (shown if len(shown) <= _MAX_SHOWN else shown[: _MAX_SHOWN - 3] + "...")


def _origin(origins: Mapping[Path, str], path: Path) -> str:
    """The variable that set ``path`` or one of its parents (the most specific wins)."""
    for end in range(len(path), 0, -1):
        if path[:end] in origins:
            return origins[path[:end]]
    return ""
