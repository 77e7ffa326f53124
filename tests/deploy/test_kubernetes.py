"""The Helm chart (deploy/helm/dockyard) and the plain manifests rendered from it
(deploy/kubernetes/dockyard.yaml): valid Kubernetes objects (kubernetes-validate, strict: an
unknown field is an error), wired together (selectors, ports, probes), running commands and
a configuration dockyard itself accepts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from support.helm_render import TemplateError, render, render_documents, rendered_manifests

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "deploy" / "kubernetes" / "dockyard.yaml"
KUBERNETES = "1.30.0"  # the oldest release the chart supports (PDB policy/v1, probes as used)
CUSTOM = {"ServiceMonitor"}  # Prometheus Operator CRD: not in the Kubernetes schemas


def _by_kind(documents: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in documents if doc["kind"] == kind]


def test_the_plain_manifests_are_the_chart_rendered_with_its_defaults() -> None:
    regenerate = ".venv/bin/python tests/support/helm_render.py > deploy/kubernetes/dockyard.yaml"
    assert MANIFESTS.read_text() == rendered_manifests(), f"regenerate: {regenerate}"


VARIANTS = {
    "defaults": {},
    "restricted": {
        "ingressFrom": [{"namespaceSelector": {"matchLabels": {"team": "ci"}}}],
        "serviceMonitor": {"enabled": False},
        "replicas": 5,
    },
}


@pytest.mark.parametrize("values", VARIANTS.values(), ids=list(VARIANTS))
def test_every_object_is_valid_for_kubernetes(values: dict[str, Any]) -> None:
    documents = render_documents(values=values)
    kinds = {doc["kind"] for doc in documents}
    assert {"ConfigMap", "Deployment", "Service", "PodDisruptionBudget", "NetworkPolicy"} <= kinds
    for doc in documents:
        if doc["kind"] not in CUSTOM:
            kubernetes_validate.validate(doc, KUBERNETES, strict=True)
    assert ("ServiceMonitor" in kinds) == (values.get("serviceMonitor", {}).get("enabled", True))


def test_a_wrong_value_is_caught_by_the_schema_check() -> None:
    deployment = _by_kind(render_documents(values={"replicas": "three"}), "Deployment")[0]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES, strict=True)


def _pod_labels(deployment: dict[str, Any]) -> dict[str, str]:
    labels: dict[str, str] = deployment["spec"]["template"]["metadata"]["labels"]
    return labels


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def test_selectors_ports_and_probes_fit_together() -> None:
    documents = render_documents()
    deployments = _by_kind(documents, "Deployment")
    registry, worker = sorted(deployments, key=lambda d: str(d["metadata"]["name"]))
    for deployment in (registry, worker):
        assert _selects(deployment["spec"]["selector"]["matchLabels"], _pod_labels(deployment))
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        ports = {port["name"] for port in container["ports"]}
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            if probe in container:
                assert container[probe]["httpGet"]["port"] in ports, probe
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] and not security["allowPrivilegeEscalation"]
        assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"]
    services = {svc["metadata"]["name"]: svc for svc in _by_kind(documents, "Service")}
    assert _selects(services["dockyard"]["spec"]["selector"], _pod_labels(registry))
    assert not _selects(services["dockyard"]["spec"]["selector"], _pod_labels(worker))
    metrics = services["dockyard-metrics"]
    assert all(_selects(metrics["spec"]["selector"], _pod_labels(d)) for d in (registry, worker))
    budget = _by_kind(documents, "PodDisruptionBudget")[0]
    assert _selects(budget["spec"]["selector"]["matchLabels"], _pod_labels(registry))
    assert budget["spec"]["minAvailable"] < registry["spec"]["replicas"]
    monitor = _by_kind(documents, "ServiceMonitor")[0]
    assert _selects(monitor["spec"]["selector"]["matchLabels"], metrics["metadata"]["labels"])
    assert monitor["spec"]["endpoints"][0]["port"] == metrics["spec"]["ports"][0]["name"]
    # the alert rules select job="dockyard": the job label comes from this pod label's value
    assert metrics["metadata"]["labels"][monitor["spec"]["jobLabel"]] == "dockyard"


def _dockyard(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).with_name("dockyard")), *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120,
                          check=False)  # fmt: skip


def test_the_containers_run_commands_dockyard_has(tmp_path: Path) -> None:
    documents = render_documents()
    config = _by_kind(documents, "ConfigMap")[0]["data"]["config.yml"]
    path = tmp_path / "config.yml"
    path.write_text(config)
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    env.update(REGISTRY_DOCKYARD_DATABASE="postgresql://dockyard:secret@db.example:5432/dockyard",
               REGISTRY_STORAGE_S3_ACCESSKEY="key", REGISTRY_STORAGE_S3_SECRETKEY="secret",
               REGISTRY_REDIS_PASSWORD="")  # fmt: skip
    checked = _dockyard("config", "check", "--config", str(path), env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    for deployment in _by_kind(documents, "Deployment"):
        args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        usage = _dockyard(args[0], "--help").stdout
        for flag in (arg for arg in args if arg.startswith("--")):
            assert flag in usage, f"{args[0]} has no {flag}"
        mounted = deployment["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
        assert any(args[args.index("--config") + 1].startswith(m["mountPath"]) for m in mounted)


def test_the_renderer_refuses_what_it_does_not_know() -> None:
    scope = {"Values": {"a": {"b": 1}, "items": [1]}}
    assert render("x: {{ .Values.a.b }}", scope) == "x: 1"
    assert render("{{- if .Values.items }}\nyes\n{{- else }}\nno\n{{- end }}", scope) == "\nyes"
    for template in ("{{ range .Values.items }}{{ end }}", "{{ .Values.nope }}",
                     "{{ .Values.a.b | upper }}", "{{ if .Values.a }}open"):  # fmt: skip
        with pytest.raises(TemplateError):
            render(template, scope)
    assert yaml.safe_load(render("k: {{ .Values.a.b | quote }}", scope)) == {"k": "1"}


def test_the_example_secret_has_every_key_the_pods_read() -> None:
    secret = yaml.safe_load((ROOT / "deploy" / "kubernetes" / "secret.example.yaml").read_text())
    kubernetes_validate.validate(secret, KUBERNETES, strict=True)
    wanted = {
        item["valueFrom"]["secretKeyRef"]["key"]
        for deployment in _by_kind(render_documents(), "Deployment")
        for item in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        if "valueFrom" in item
    }
    assert wanted == set(secret["stringData"])
