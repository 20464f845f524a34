"""CI gates for deploy/: every overlay renders, validates against the Kubernetes schemas, passes
checkov (less a committed baseline of accepted findings), and every PromQL expression parses.

    python tools/deploy_check.py                 # all gates; exit 1 on the first failing one
    python tools/deploy_check.py --skip-checkov  # when checkov is not installed (make installs it)
    python tools/deploy_check.py --update-checkov-baseline   # accept today's findings (review the diff!)

Gates, each a function tests/unit/test_deploy_gates.py feeds a broken input:
  render     tools/kustomize.py on deploy/k8s/overlays/* -> var/deploy-check/rendered/<overlay>.yaml
  validate   `kubernetes-validate --strict` (PyPI; bundled OpenAPI schemas, no cluster). Custom
             resources (KEDA, CloudNativePG, Prometheus Operator, External Secrets) have no bundled
             schema: it warns about them, and `check_custom_resources` checks their required fields
  promql     promql-parser (PyPI) on every alert rule (plain file and PrometheusRule objects) and
             every Grafana dashboard target
  checkov    checkov's Kubernetes checks on the rendered overlays, against tools/checkov-baseline.json
             (checkov pins packaging<24, which pytest refuses: it lives in its own venv, CHECKOV=...)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import kustomize

REPO = Path(__file__).resolve().parents[1]
OVERLAYS = REPO / "deploy" / "k8s" / "overlays"
ALERTS = REPO / "deploy" / "observability" / "prometheus" / "alerts.yaml"
DASHBOARDS = REPO / "deploy" / "observability" / "grafana" / "dashboards"
RENDERED = REPO / "var" / "deploy-check" / "rendered"
CHECKOV_BASELINE = REPO / "tools" / "checkov-baseline.json"
# Grafana template variables are not PromQL: replaced by a value of the right shape before parsing.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}
# Fields a custom resource must have for its operator to accept it at all.
CUSTOM_RESOURCE_REQUIRED: dict[str, tuple[str, ...]] = {
    "ScaledObject": ("spec.scaleTargetRef.name", "spec.triggers"),
    "TriggerAuthentication": ("spec",),
    "Cluster": ("spec.instances", "spec.storage.size"),
    "Pooler": ("spec.cluster.name", "spec.type", "spec.pgbouncer.poolMode"),
    "ScheduledBackup": ("spec.schedule", "spec.cluster.name"),
    "ServiceMonitor": ("spec.selector", "spec.endpoints"),
    "PodMonitor": ("spec.selector", "spec.podMetricsEndpoints"),
    "PrometheusRule": ("spec.groups",),
    "ExternalSecret": ("spec.secretStoreRef.name", "spec.target.name"),
    "SecretStore": ("spec.provider",),
}


class GateError(Exception):
    pass


def render_overlays(out: Path = RENDERED, overlays: Iterable[Path] | None = None) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for overlay in sorted(overlays or (p for p in OVERLAYS.iterdir() if p.is_dir())):
        try:
            text = kustomize.render(overlay)
        except (kustomize.KustomizeError, OSError, yaml.YAMLError, KeyError, ValueError) as exc:
            raise GateError(f"render {overlay.relative_to(REPO)}: {exc}") from exc
        path = out / f"{overlay.name}.yaml"
        path.write_text(text, encoding="utf-8")
        files.append(path)
    return files


def _tool(name: str) -> str:
    here = Path(sys.executable).parent / name
    found = str(here) if here.exists() else shutil.which(name)
    if not found:
        raise GateError(f"{name} is not installed (make install adds it)")
    return found


def validate(files: list[Path]) -> None:
    result = subprocess.run(
        [_tool("kubernetes-validate"), "--strict", "--quiet", *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    errors = [line for line in (result.stdout + result.stderr).splitlines() if not line.startswith("WARN")]
    if result.returncode != 0:
        raise GateError("kubernetes-validate --strict:\n" + "\n".join(errors))
    for path in files:
        check_custom_resources([d for d in yaml.safe_load_all(path.read_text()) if d])


def _get(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(obj, dict) or part not in obj:
            return None
        obj = obj[part]
    return obj


def check_custom_resources(objs: list[dict[str, Any]]) -> None:
    problems = []
    for obj in objs:
        for field in CUSTOM_RESOURCE_REQUIRED.get(obj.get("kind", ""), ()):
            if "." in obj.get("apiVersion", "").split("/")[0] and _get(obj, field) in (None, "", [], {}):
                problems.append(f"{obj['kind']}/{obj['metadata'].get('name')}: {field} is required")
        if obj.get("kind") == "PrometheusRule":
            check_rule_groups(obj["spec"].get("groups", []), f"PrometheusRule/{obj['metadata']['name']}")
    if problems:
        raise GateError("custom resources:\n  " + "\n  ".join(problems))


def _parse_promql(expr: str, where: str) -> None:
    import promql_parser

    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    try:
        promql_parser.parse(expr)
    except Exception as exc:  # the parser raises ValueError, or a Rust panic as BaseException
        raise GateError(f"{where}: PromQL does not parse: {exc}\n  {expr.strip()}") from None


def check_rule_groups(groups: list[dict[str, Any]], where: str) -> int:
    count = 0
    for group in groups:
        for rule in group.get("rules", []):
            name = rule.get("alert") or rule.get("record") or "?"
            _parse_promql(str(rule.get("expr", "")), f"{where}: {name}")
            if rule.get("alert") and not str(rule.get("annotations", {}).get("runbook_url", "")):
                raise GateError(f"{where}: alert {name} has no annotations.runbook_url")
            count += 1
    return count


def check_promql(alerts: Path = ALERTS, dashboards: Path = DASHBOARDS) -> int:
    count = check_rule_groups(yaml.safe_load(alerts.read_text())["groups"], str(alerts.name))
    for dashboard in sorted(dashboards.glob("*.json")):
        for panel in json.loads(dashboard.read_text()).get("panels", []):
            for target in panel.get("targets", []):
                if target.get("expr"):
                    _parse_promql(target["expr"], f"{dashboard.name}: {panel.get('title')}")
                    count += 1
    return count


def checkov(files: list[Path], baseline: Path = CHECKOV_BASELINE, *, update: bool = False) -> None:
    binary = os.environ.get("CHECKOV") or _tool("checkov")
    if os.sep in binary:  # checkov runs in the rendered directory: a relative path must not move
        binary = str(Path(binary).resolve())
    directory = files[0].parent
    cmd = [binary, "-d", str(directory), "--framework", "kubernetes", "--compact", "--quiet"]
    cmd += ["--skip-download", "--output", "cli"]
    if update:
        cmd.append("--create-baseline")
    elif baseline.exists():
        cmd += ["--baseline", str(baseline)]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=600, cwd=directory)
    if update:
        created = directory / ".checkov.baseline"
        if not created.exists():
            raise GateError(f"checkov did not write a baseline:\n{result.stdout}\n{result.stderr}")
        data = json.loads(created.read_text())
        baseline.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        created.unlink()
        return
    if result.returncode != 0:
        raise GateError(f"checkov: findings not in {baseline.name}:\n{result.stdout[-6000:]}{result.stderr}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skip-checkov", action="store_true")
    parser.add_argument("--update-checkov-baseline", action="store_true")
    args = parser.parse_args(argv)
    try:
        files = render_overlays()
        print(f"render: {', '.join(f.name for f in files)} -> {RENDERED.relative_to(REPO)}")
        validate(files)
        print("validate: kubernetes-validate --strict and custom resources: ok")
        print(f"promql: {check_promql()} expressions parse")
        if args.update_checkov_baseline:
            checkov(files, update=True)
            print(f"checkov: baseline written to {CHECKOV_BASELINE.relative_to(REPO)}")
        elif not args.skip_checkov:
            checkov(files)
            print("checkov: no finding outside the baseline")
    except GateError as exc:
        print(f"deploy-check FAILED: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
