"""The shipped Prometheus alert rules (deploy/prometheus/): valid for Prometheus (promtool,
from Debian's prometheus package), unit-tested by their own test file, reading only metrics
dockyard exports, and each explained in docs/alerts.md."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from dockyard.api.observability import Metrics

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "dockyard-alerts.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "dockyard-alerts.test.yml"
DOCS = ROOT / "docs" / "alerts.md"
PROMQL_WORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
    "bool", "offset", "le", "inf", "nan", "sum", "min", "max", "avg", "count", "group",
    "stddev", "stdvar", "topk", "bottomk", "quantile", "count_values",
}  # fmt: skip  (operators; aggregations may be followed by "by (...)" instead of "(")


def _promtool() -> str:
    found = shutil.which("promtool")
    assert found, "promtool is missing: scripts/bootstrap --test installs Debian's prometheus"
    return found


def _alerts() -> list[dict[str, object]]:
    document = yaml.safe_load(RULES.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_promtool_accepts_the_rules() -> None:
    checked = subprocess.run([_promtool(), "check", "rules", str(RULES)],
                             capture_output=True, text=True, check=False)  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(_alerts())} rules found" in checked.stdout


def test_the_rules_pass_their_unit_tests() -> None:
    tested = subprocess.run([_promtool(), "test", "rules", RULE_TESTS.name], cwd=RULE_TESTS.parent,
                            capture_output=True, text=True, check=False)  # fmt: skip
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_every_alert_is_shown_firing_in_the_unit_tests() -> None:
    document = yaml.safe_load(RULE_TESTS.read_text())
    firing = {
        case["alertname"]
        for test in document["tests"]
        for case in test["alert_rule_test"]
        if case.get("exp_alerts")
    }
    quiet = {
        case["alertname"]
        for test in document["tests"]
        for case in test["alert_rule_test"]
        if not case.get("exp_alerts")
    }
    names = {str(rule["alert"]) for rule in _alerts()}
    assert names - firing == set(), "alerts never shown firing"
    assert names - quiet == set(), "alerts never shown staying quiet"


def _exported_metric_names() -> set[str]:
    names = {"up"}
    for family in Metrics().registry.collect():
        names.add(family.name)
        for sample in family.samples:
            names.add(sample.name)
        if family.type == "counter":
            names.add(family.name + "_total")
        if family.type == "histogram":
            names.update(family.name + suffix for suffix in ("_bucket", "_sum", "_count"))
    return names


def _metrics_in(expression: str) -> set[str]:
    without_labels = re.sub(r"\{[^}]*\}", "", expression)
    without_ranges = re.sub(r"\[[^\]]*\]", "", without_labels)
    words = set(re.findall(r"\b[a-zA-Z_:][a-zA-Z0-9_:]*\b(?!\s*\()", without_ranges))
    grouping = set(re.findall(r"(?:by|without|on|ignoring)\s*\(([^)]*)\)", without_ranges))
    labels = {label.strip() for group in grouping for label in group.split(",")}
    return {w for w in words if w.lower() not in PROMQL_WORDS and w not in labels}


def test_rules_read_only_metrics_dockyard_exports() -> None:
    exported = _exported_metric_names()
    for rule in _alerts():
        used = _metrics_in(str(rule["expr"]))
        assert used, rule["alert"]
        assert used <= exported, f"{rule['alert']} reads {sorted(used - exported)}"


@pytest.mark.parametrize("rule", _alerts(), ids=lambda rule: str(rule["alert"]))
def test_every_alert_has_its_section_in_the_docs(rule: dict[str, object]) -> None:
    annotations = rule["annotations"]
    assert isinstance(annotations, dict)
    anchor = str(annotations["runbook"]).split("#", 1)[1]
    headings = re.findall(r"^### (\S+)", DOCS.read_text(), re.MULTILINE)
    assert anchor in {heading.lower() for heading in headings}
    assert rule["labels"]["severity"] in ("critical", "warning", "info")  # type: ignore[index]


DASHBOARD = ROOT / "deploy" / "grafana" / "dockyard.json"
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__range": "6h", "$job": "dockyard",
                     "$instance": ".*"}  # fmt: skip


def _dashboard_queries() -> list[tuple[str, str]]:
    document = json.loads(DASHBOARD.read_text())
    queries = []
    for panel in document["panels"]:
        for target in panel.get("targets", []):
            expression = target["expr"]
            for variable, value in GRAFANA_VARIABLES.items():
                expression = expression.replace(variable, value)
            queries.append((panel["title"], expression))
    return queries


def test_the_dashboard_queries_parse_and_read_only_exported_metrics(tmp_path: Path) -> None:
    queries = _dashboard_queries()
    assert len(queries) >= 15
    exported = _exported_metric_names()
    for title, expression in queries:
        assert "$" not in expression, f"{title}: a variable the test does not know"
        used = _metrics_in(expression)
        assert used and used <= exported, f"{title} reads {sorted(used - exported)}"
    # promtool parses PromQL in recording rules: one rule per query
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query_{n}", "expr": expression}
        for n, (_, expression) in enumerate(queries)
    ]}]}  # fmt: skip
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump(rules))
    checked = subprocess.run([_promtool(), "check", "rules", str(path)],
                             capture_output=True, text=True, check=False)  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_dashboard_panels_do_not_overlap() -> None:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    taken: set[tuple[int, int]] = set()
    for panel in panels:
        box = panel["gridPos"]
        cells = {(box["x"] + dx, box["y"] + dy) for dx in range(box["w"]) for dy in range(box["h"])}
        assert not cells & taken, panel["title"]
        assert box["x"] + box["w"] <= 24
        taken |= cells
