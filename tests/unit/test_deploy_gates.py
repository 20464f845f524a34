"""The deploy/ CI gates (tools/deploy_check.py, tools/kustomize.py, tools/gen_deploy.py): each
passes on the repository and fails on a broken input. Needs no cluster; the comparison with the
real kustomize runs where `kubectl` is installed."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools"))

import deploy_check  # noqa: E402
import gen_deploy  # noqa: E402
import kustomize  # noqa: E402

OVERLAYS = sorted(p for p in (REPO / "deploy" / "k8s" / "overlays").iterdir() if p.is_dir())
HASHED = re.compile(r"-[a-z0-9]{10}$")


def _key(obj: dict[str, Any]) -> tuple[str, str, str]:
    meta = obj["metadata"]
    return obj["kind"], meta.get("namespace", ""), HASHED.sub("", meta["name"])


def _normalized(value: Any) -> Any:
    """Generated names without their hash suffix, merge-keyed lists in a fixed order (kustomize
    and our renderer may order a patched list's elements differently; Kubernetes does not care)."""
    if isinstance(value, dict):
        return {k: _normalized(v) for k, v in value.items()}
    if isinstance(value, list):
        items = [_normalized(v) for v in value]
        if items and all(isinstance(i, dict) and ("name" in i or "mountPath" in i) for i in items):
            items.sort(key=lambda i: str(i.get("name", i.get("mountPath"))))
        return items
    if isinstance(value, str):
        return HASHED.sub("", value) if value.startswith("peony-") else value
    return value


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")
@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: p.name)
def test_renderer_matches_kubectl_kustomize(overlay: Path) -> None:
    out = subprocess.run(
        ["kubectl", "kustomize", str(overlay)], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    real = {_key(o): _normalized(o) for o in yaml.safe_load_all(out) if o}
    ours = {_key(o): _normalized(o) for o in kustomize.build(overlay)}
    assert set(ours) == set(real)
    for key in real:
        assert ours[key] == real[key], key


def test_renderer_applies_generators_patches_images_and_namespace(tmp_path: Path) -> None:
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "kustomization.yaml").write_text("resources: [app.yaml]\n")
    (tmp_path / "base" / "app.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "app"},
                "spec": {
                    "replicas": 5,
                    "template": {
                        "spec": {
                            "containers": [
                                {"name": "app", "image": "peony", "envFrom": [{"secretRef": {"name": "s"}}]}
                            ]
                        }
                    },
                },
            }
        )
    )
    (tmp_path / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "namespace": "ns",
                "resources": ["base"],
                "images": [{"name": "peony", "newName": "reg/peony", "newTag": "1.2"}],
                "secretGenerator": [{"name": "s", "literals": ["K=v"]}],
                "patches": [
                    {"target": {"kind": "Deployment"}, "patch": "- op: remove\n  path: /spec/replicas\n"}
                ],
            }
        )
    )
    objs = {o["kind"]: o for o in kustomize.build(tmp_path)}
    deployment, secret = objs["Deployment"], objs["Secret"]
    assert "replicas" not in deployment["spec"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "reg/peony:1.2"
    assert HASHED.search(secret["metadata"]["name"])
    assert container["envFrom"][0]["secretRef"]["name"] == secret["metadata"]["name"]
    assert {deployment["metadata"]["namespace"], secret["metadata"]["namespace"]} == {"ns"}


def test_renderer_refuses_what_it_does_not_support(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("namePrefix: x-\nresources: []\n")
    with pytest.raises(kustomize.KustomizeError, match="namePrefix"):
        kustomize.build(tmp_path)
    (tmp_path / "kustomization.yaml").write_text("resources: [missing.yaml]\n")
    with pytest.raises(kustomize.KustomizeError, match="does not exist"):
        kustomize.build(tmp_path)


def test_every_overlay_renders_and_validates(tmp_path: Path) -> None:
    files = deploy_check.render_overlays(tmp_path)
    assert {f.stem for f in files} >= {"dev", "prod", "prod-selfhosted"}
    deploy_check.validate(files)


def test_validate_fails_on_an_invalid_manifest(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n"
        "spec: {replicas: 1, unknownField: true, selector: {matchLabels: {a: b}},"
        " template: {metadata: {labels: {a: b}}, spec: {containers: [{name: c, image: i}]}}}\n"
    )
    with pytest.raises(deploy_check.GateError, match=r"unknownField|did not validate"):
        deploy_check.validate([broken])


def test_validate_fails_on_a_custom_resource_missing_a_required_field() -> None:
    scaled = {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": {"name": "n"}}
    scaled["spec"] = {"scaleTargetRef": {"name": "notify"}}
    with pytest.raises(deploy_check.GateError, match=r"spec\.triggers"):
        deploy_check.check_custom_resources([scaled])


def test_promql_gate_passes_and_fails_on_a_broken_alert(tmp_path: Path) -> None:
    assert deploy_check.check_promql() >= 8
    alerts = yaml.safe_load(deploy_check.ALERTS.read_text())
    alerts["groups"][0]["rules"][0]["expr"] = "sum by (service_name) (rate(x[5m]) > "
    broken = tmp_path / "alerts.yaml"
    broken.write_text(yaml.safe_dump(alerts))
    with pytest.raises(deploy_check.GateError, match="does not parse"):
        deploy_check.check_promql(broken, tmp_path)


def test_promql_gate_fails_on_a_broken_dashboard_query(tmp_path: Path) -> None:
    (tmp_path / "d.json").write_text('{"panels": [{"title": "t", "targets": [{"expr": "rate(x[5m]"}]}]}')
    with pytest.raises(deploy_check.GateError, match=r"d\.json"):
        deploy_check.check_promql(deploy_check.ALERTS, tmp_path)


def test_every_alert_links_its_runbook_section() -> None:
    readme = (REPO / "deploy" / "README.md").read_text()
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in readme.splitlines()
        if line.startswith("#")
    }
    for group in yaml.safe_load(deploy_check.ALERTS.read_text())["groups"]:
        for rule in group["rules"]:
            anchor = rule["annotations"]["runbook_url"].rsplit("#", 1)[1]
            assert anchor in anchors, f"{rule['alert']}: deploy/README.md has no section #{anchor}"


def test_monitoring_objects_are_generated_from_the_plain_files() -> None:
    for path, text in gen_deploy.outputs().items():
        assert path.read_text() == text, f"{path} is stale: run make gen"
    rule = yaml.safe_load(next(iter(gen_deploy.outputs().values())).split("\n", 1)[1])

    def exprs_stripped(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for group in groups:
            for r in group["rules"]:
                r["expr"] = r["expr"].strip()
        return groups

    plain = yaml.safe_load(deploy_check.ALERTS.read_text())["groups"]
    assert exprs_stripped(rule["spec"]["groups"]) == exprs_stripped(plain)


CHECKOV = deploy_check.os.environ.get("CHECKOV") or shutil.which("checkov") or ""


@pytest.mark.skipif(not Path(CHECKOV).is_file(), reason="no checkov (make deploy-check installs it)")
def test_checkov_passes_with_the_baseline_and_fails_on_a_new_finding(tmp_path: Path) -> None:
    files = deploy_check.render_overlays(tmp_path / "rendered")
    deploy_check.checkov(files)
    privileged = yaml.safe_load(files[0].read_text().split("\n---\n")[0])
    bad = tmp_path / "bad" / "dev.yaml"
    bad.parent.mkdir()
    bad.write_text(
        files[0].read_text() + "\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: rogue, namespace: peony}\n"
        "spec: {hostNetwork: true, containers: [{name: c, image: 'x:latest',"
        " securityContext: {privileged: true}}]}\n"
    )
    assert privileged is not None
    with pytest.raises(deploy_check.GateError, match="checkov"):
        deploy_check.checkov([bad])
