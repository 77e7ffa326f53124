"""Render deploy/helm/dockyard the way ``helm template`` would, for the tests (Helm itself does
not install here). The chart keeps to a small part of Go's template language, and this
renderer knows exactly that part; anything else is an error, so the chart cannot drift into
constructs nobody checks:

- ``{{ .Values.a.b }}``, ``{{ .Release.Name }}``, ``{{ .Release.Namespace }}``,
  ``{{ .Chart.Version }}``, ``{{ .Chart.AppVersion }}``;
- pipes ``| quote`` and ``| nindent N``, and ``toYaml X | nindent N``;
- ``{{ if X }}`` ... ``{{ else }}`` ... ``{{ end }}`` (X true when non-empty, as in Go);
- ``{{-`` and ``-}}`` trim the whitespace before or after the action, newlines included.

Run as a program it prints the chart rendered with its default values, which is what
deploy/kubernetes/dockyard.yaml holds:

    .venv/bin/python tests/support/helm_render.py > deploy/kubernetes/dockyard.yaml
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

CHART = Path(__file__).resolve().parents[2] / "deploy" / "helm" / "dockyard"
ACTION = re.compile(r"\{\{(-?)\s*(.*?)\s*(-?)\}\}", re.S)
HEADER = (
    "# Rendered from deploy/helm/dockyard with its default values (tests/support/helm_render.py)."
)


class TemplateError(Exception):
    pass


def render_chart(
    chart: Path = CHART, values: Mapping[str, Any] | None = None,
    release: str = "dockyard", namespace: str = "default",
) -> dict[str, str]:  # fmt: skip
    """Each template's rendered text by file name (templates/*.yaml, sorted)."""
    meta = yaml.safe_load((chart / "Chart.yaml").read_text())
    merged = _merge(yaml.safe_load((chart / "values.yaml").read_text()), values or {})
    scope = {
        "Values": merged,
        "Release": {"Name": release, "Namespace": namespace},
        "Chart": {"Version": meta["version"], "AppVersion": meta["appVersion"]},
    }
    return {
        path.name: render(path.read_text(), scope)
        for path in sorted((chart / "templates").glob("*.yaml"))
    }


def render_documents(**kwargs: Any) -> list[dict[str, Any]]:
    """The rendered objects (empty documents dropped)."""
    documents: list[dict[str, Any]] = []
    for text in render_chart(**kwargs).values():
        documents += [doc for doc in yaml.safe_load_all(text) if doc]
    return documents


def render(text: str, scope: Mapping[str, Any]) -> str:
    tokens = _tokens(text)
    output, rest = _block(tokens, 0, scope, emit=True)
    if rest != len(tokens):
        raise TemplateError("unexpected {{ end }} or {{ else }}")
    return output


def _tokens(text: str) -> list[tuple[str, str]]:
    """("text", ...) and ("action", ...) in order, with the trim markers applied."""
    tokens: list[tuple[str, str]] = []
    position = 0
    for found in ACTION.finditer(text):
        before = text[position : found.start()]
        if found.group(1):
            before = before.rstrip()
        tokens.append(("text", before))
        tokens.append(("action", found.group(2)))
        position = found.end()
        if found.group(3):
            while position < len(text) and text[position].isspace():
                position += 1
    tokens.append(("text", text[position:]))
    return tokens


def _block(
    tokens: list[tuple[str, str]], index: int, scope: Mapping[str, Any], *, emit: bool
) -> tuple[str, int]:
    """Render from ``index`` up to an unmatched end/else; return the text and that index."""
    parts: list[str] = []
    while index < len(tokens):
        kind, body = tokens[index]
        if kind == "text":
            parts.append(body)
            index += 1
            continue
        if body in ("end", "else"):
            return "".join(parts), index
        if body.startswith("if "):
            condition = emit and _truthy(_pipeline(body[3:], scope))
            text, index = _block(tokens, index + 1, scope, emit=condition)
            chosen = text if condition else ""
            if index < len(tokens) and tokens[index][1] == "else":
                other, index = _block(tokens, index + 1, scope, emit=emit and not condition)
                chosen = chosen if condition else other
            if index >= len(tokens) or tokens[index][1] != "end":
                raise TemplateError("{{ if }} without {{ end }}")
            parts.append(chosen)
            index += 1
            continue
        parts.append(_text(_pipeline(body, scope)) if emit else "")
        index += 1
    return "".join(parts), index


def _pipeline(expression: str, scope: Mapping[str, Any]) -> Any:
    stages = [stage.strip() for stage in expression.split("|")]
    value = _term(stages[0], scope)
    for stage in stages[1:]:
        name, _, argument = stage.partition(" ")
        if name == "quote":
            value = json.dumps(_text(value))
        elif name == "nindent" and argument.strip().isdigit():
            pad = " " * int(argument)
            value = "\n" + "\n".join(pad + line for line in _text(value).splitlines())
        else:
            raise TemplateError(f"unsupported pipe {stage!r}")
    return value


def _term(term: str, scope: Mapping[str, Any]) -> Any:
    if term.startswith("toYaml "):
        value = _lookup(term.removeprefix("toYaml ").strip(), scope)
        return yaml.safe_dump(value, default_flow_style=False, sort_keys=False).rstrip("\n")
    return _lookup(term, scope)


def _lookup(path: str, scope: Mapping[str, Any]) -> Any:
    if not re.fullmatch(r"(\.[A-Za-z][A-Za-z0-9_]*)+", path):
        raise TemplateError(f"unsupported expression {path!r}")
    value: Any = scope
    for key in path[1:].split("."):
        if not isinstance(value, Mapping) or key not in value:
            raise TemplateError(f"{path}: no such value")
        value = value[key]
    return value


def _truthy(value: Any) -> bool:
    return bool(value)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def rendered_manifests() -> str:
    """deploy/kubernetes/dockyard.yaml: every template with the default values, one stream."""
    texts = [text.strip("\n") for text in render_chart().values() if text.strip()]
    return HEADER + "\n---\n" + "\n---\n".join(texts) + "\n"


if __name__ == "__main__":
    sys.stdout.write(rendered_manifests())
