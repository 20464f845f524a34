"""A small kustomize renderer for the subset deploy/k8s uses, so CI renders every overlay on a
machine that has only PyPI / Debian / npm (none ships a kustomize >= 4 with components).

    python tools/kustomize.py deploy/k8s/overlays/prod        # YAML stream on stdout
    python tools/kustomize.py deploy/k8s/overlays/prod -o out/ # one file per overlay

Supported (anything else in a kustomization is an error, never silently ignored):
  resources (files, directories with a kustomization), components, namespace,
  labels (pairs, includeSelectors: false, includeTemplates), commonAnnotations, images
  (name, newName, newTag, digest), replicas, patches (a strategic-merge patch file, or a JSON 6902
  patch inline / in a file with a target of kind / name / namespace / group / version),
  configMapGenerator and secretGenerator (literals, files, envs, type, options.labels /
  annotations / disableNameSuffixHash) with kustomize's content hash suffix, and the name
  references to generated objects in pod specs (envFrom, env valueFrom, volumes, projected).

tests/unit/test_kustomize_render.py checks it against `kubectl kustomize` where kubectl exists.
"""

from __future__ import annotations

import argparse
import base64
import copy
import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

__all__ = ["KustomizeError", "build", "render"]

Obj = dict[str, Any]

KNOWN_FIELDS = frozenset(
    {
        "apiVersion",
        "kind",
        "metadata",
        "resources",
        "components",
        "namespace",
        "labels",
        "commonAnnotations",
        "images",
        "replicas",
        "patches",
        "configMapGenerator",
        "secretGenerator",
        "generatorOptions",
    }
)
# Objects the namespace transformer leaves alone.
CLUSTER_SCOPED = frozenset(
    {
        "Namespace",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "PriorityClass",
        "StorageClass",
        "PersistentVolume",
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
        "ClusterSecretStore",
        "ClusterIssuer",
    }
)
# Strategic merge keys of the list fields our patches touch (the Kubernetes API's patchMergeKey).
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "ports": "containerPort",
    "imagePullSecrets": "name",
    "tolerations": "key",
}
REPLICATED_KINDS = frozenset({"Deployment", "StatefulSet", "ReplicaSet", "ReplicationController"})


class KustomizeError(Exception):
    pass


def _load_yaml_stream(path: Path) -> list[Obj]:
    with path.open(encoding="utf-8") as fh:
        return [d for d in yaml.safe_load_all(fh) if d is not None]


def _id(obj: Obj) -> tuple[str, str, str]:
    meta = obj.get("metadata", {})
    return obj.get("kind", ""), meta.get("namespace", ""), meta.get("name", "")


# ------------------------------------------------------------------------------------ patches


def strategic_merge(target: Any, patch: Any, field: str = "") -> Any:
    """Merge ``patch`` into ``target`` as Kubernetes' strategic merge patch does for the fields
    in MERGE_KEYS (lists of other fields are replaced; ``null`` deletes a key; an element with
    ``$patch: delete`` removes the matching element)."""
    if isinstance(patch, dict) and isinstance(target, dict):
        if patch.get("$patch") == "replace":
            return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
        out = dict(target)
        for key, value in patch.items():
            if key == "$patch":
                continue
            if value is None:
                out.pop(key, None)
            elif key in out:
                out[key] = strategic_merge(out[key], value, key)
            else:
                out[key] = copy.deepcopy(value)
        return out
    if isinstance(patch, list) and isinstance(target, list) and field in MERGE_KEYS:
        key = MERGE_KEYS[field]
        out = list(target)
        added: list[Any] = []  # kustomize (kyaml) puts elements only the patch has first
        for item in patch:
            if not isinstance(item, dict) or key not in item:
                raise KustomizeError(f"strategic merge: an item of {field} has no {key}")
            index = next(
                (i for i, t in enumerate(out) if isinstance(t, dict) and t.get(key) == item[key]), None
            )
            if item.get("$patch") == "delete":
                if index is not None:
                    del out[index]
            elif index is None:
                added.append(copy.deepcopy(item))
            else:
                out[index] = strategic_merge(out[index], item, field)
        return added + out
    return copy.deepcopy(patch)


def _pointer(path: str) -> list[str]:
    if not path.startswith("/"):
        raise KustomizeError(f"JSON patch path {path!r} must start with /")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _walk(doc: Any, parts: list[str], path: str) -> Any:
    for part in parts:
        if isinstance(doc, list):
            doc = doc[int(part)]
        elif isinstance(doc, dict) and part in doc:
            doc = doc[part]
        else:
            raise KustomizeError(f"JSON patch path {path} does not exist")
    return doc


def json6902(doc: Obj, ops: list[Obj]) -> Obj:
    doc = copy.deepcopy(doc)
    for op in ops:
        kind, path = op.get("op"), op.get("path", "")
        parts = _pointer(path)
        parent = _walk(doc, parts[:-1], path)
        last = parts[-1]
        if kind in ("add", "replace"):
            value = copy.deepcopy(op["value"])
            if isinstance(parent, list):
                if last == "-":
                    parent.append(value)
                elif kind == "add":
                    parent.insert(int(last), value)
                else:
                    parent[int(last)] = value
            else:
                if kind == "replace" and last not in parent:
                    raise KustomizeError(f"JSON patch replace: {path} does not exist")
                parent[last] = value
        elif kind == "remove":
            if isinstance(parent, list):
                del parent[int(last)]
            elif last in parent:
                del parent[last]
            else:
                raise KustomizeError(f"JSON patch remove: {path} does not exist")
        else:
            raise KustomizeError(f"JSON patch op {kind!r} is not supported")
    return doc


def _matches(obj: Obj, target: Obj) -> bool:
    api = obj.get("apiVersion", "")
    group, _, version = api.rpartition("/")
    for key, value in target.items():
        if key == "kind" and not re.fullmatch(value, obj.get("kind", "")):
            return False
        if key == "name" and not re.fullmatch(value, obj["metadata"].get("name", "")):
            return False
        if key == "namespace" and obj["metadata"].get("namespace", "") != value:
            return False
        if key == "group" and group != value:
            return False
        if key == "version" and version != value:
            return False
        if key == "labelSelector":
            labels = obj["metadata"].get("labels", {})
            for term in value.split(","):
                k, _, v = term.partition("=")
                if labels.get(k.strip()) != v.strip():
                    return False
        if key not in ("kind", "name", "namespace", "group", "version", "labelSelector"):
            raise KustomizeError(f"patch target field {key!r} is not supported")
    return True


def _apply_patches(objs: list[Obj], patches: list[Obj], root: Path) -> list[Obj]:
    for entry in patches:
        target = entry.get("target")
        if "path" in entry:
            text = (root / entry["path"]).read_text(encoding="utf-8")
        elif "patch" in entry:
            text = entry["patch"]
        else:
            raise KustomizeError(f"{root}: a patch needs path or patch")
        body = yaml.safe_load(text)
        if isinstance(body, list):  # JSON 6902
            if not target:
                raise KustomizeError(f"{root}: a JSON 6902 patch needs a target")
            hits = [i for i, o in enumerate(objs) if _matches(o, target)]
            if not hits:
                raise KustomizeError(f"{root}: patch target {target} matches nothing")
            for i in hits:
                objs[i] = json6902(objs[i], body)
        else:
            docs = [d for d in yaml.safe_load_all(text) if d is not None]
            for patch in docs:
                selector = target or {"kind": patch["kind"], "name": patch["metadata"]["name"]}
                hits = [i for i, o in enumerate(objs) if _matches(o, selector)]
                if not hits:
                    raise KustomizeError(f"{root}: patch for {selector} matches nothing")
                for i in hits:
                    merged = strategic_merge(objs[i], {k: v for k, v in patch.items()})
                    merged["metadata"]["name"] = objs[i]["metadata"]["name"]
                    objs[i] = merged
    return objs


# ---------------------------------------------------------------------------------- generators


def _go_json(value: Any) -> str:
    """Go's json.Marshal of a map: sorted keys, no spaces, <, > and & escaped."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def name_hash(obj: Obj) -> str:
    """kustomize's content hash suffix (api/hasher): sha256 of the encoded object, its first 10
    hex digits with 0, 1, 3, a, e replaced so the suffix never looks like a number or a word."""
    if obj["kind"] == "Secret":
        encoded = {"kind": "Secret", "type": obj.get("type", ""), "name": obj["metadata"]["name"]}
        encoded["data"] = obj.get("data", {})
    else:
        encoded = {"kind": obj["kind"], "name": obj["metadata"]["name"], "data": obj.get("data", {})}
    digest = hashlib.sha256(_go_json(encoded).encode()).hexdigest()[:10]
    return digest.translate(str.maketrans("013ae", "ghkmt"))


def _generator_data(gen: Obj, root: Path) -> dict[str, str]:
    data: dict[str, str] = {}
    for literal in gen.get("literals", []):
        key, sep, value = literal.partition("=")
        if not sep:
            raise KustomizeError(f"{root}: literal {literal!r} has no '='")
        data[key] = value
    for entry in gen.get("files", []):
        key, sep, path = entry.partition("=")
        if not sep:
            key, path = Path(entry).name, entry
        file = (root / path).resolve()
        if root.resolve() not in file.parents:
            raise KustomizeError(f"{root}: generator file {path} is outside the kustomization")
        data[key] = file.read_text(encoding="utf-8")
    for env_file in gen.get("envs", []):
        for line in (root / env_file).read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                key, _, value = line.partition("=")
                data[key] = value
    return data


def _generate(kustomization: Obj, root: Path) -> tuple[list[Obj], dict[tuple[str, str], str]]:
    out: list[Obj] = []
    renames: dict[tuple[str, str], str] = {}
    global_options = kustomization.get("generatorOptions", {})
    for kind, field in (("ConfigMap", "configMapGenerator"), ("Secret", "secretGenerator")):
        for gen in kustomization.get(field, []):
            options = {**global_options, **gen.get("options", {})}
            data = _generator_data(gen, root)
            obj: Obj = {"apiVersion": "v1", "kind": kind, "metadata": {"name": gen["name"]}}
            if kind == "Secret":
                obj["type"] = gen.get("type", "Opaque")
                obj["data"] = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
            else:
                obj["data"] = data
            if options.get("labels"):
                obj["metadata"]["labels"] = dict(options["labels"])
            if options.get("annotations"):
                obj["metadata"]["annotations"] = dict(options["annotations"])
            if not options.get("disableNameSuffixHash"):
                hashed = f"{gen['name']}-{name_hash(obj)}"
                renames[(kind, gen["name"])] = hashed
                obj["metadata"]["name"] = hashed
            out.append(obj)
    return out, renames


def _pod_specs(obj: Obj) -> list[Obj]:
    spec = obj.get("spec", {})
    if obj.get("kind") == "Pod":
        return [spec]
    if obj.get("kind") == "CronJob":
        return [spec.get("jobTemplate", {}).get("spec", {}).get("template", {}).get("spec", {})]
    template = spec.get("template", {})
    return [template["spec"]] if isinstance(template, dict) and "spec" in template else []


def _rename_references(objs: list[Obj], renames: dict[tuple[str, str], str]) -> None:
    def fix(holder: Obj | None, key: str, kind: str) -> None:
        if holder and (kind, holder.get(key)) in renames:
            holder[key] = renames[(kind, holder[key])]

    for obj in objs:
        for pod in _pod_specs(obj):
            for c in pod.get("containers", []) + pod.get("initContainers", []):
                for src in c.get("envFrom", []):
                    fix(src.get("configMapRef"), "name", "ConfigMap")
                    fix(src.get("secretRef"), "name", "Secret")
                for env in c.get("env", []):
                    ref = env.get("valueFrom", {})
                    fix(ref.get("configMapKeyRef"), "name", "ConfigMap")
                    fix(ref.get("secretKeyRef"), "name", "Secret")
            for vol in pod.get("volumes", []):
                fix(vol.get("configMap"), "name", "ConfigMap")
                fix(vol.get("secret"), "secretName", "Secret")
                for src in vol.get("projected", {}).get("sources", []):
                    fix(src.get("configMap"), "name", "ConfigMap")
                    fix(src.get("secret"), "name", "Secret")


# -------------------------------------------------------------------------------- transformers


def _set_images(objs: list[Obj], images: list[Obj]) -> None:
    for obj in objs:
        for pod in _pod_specs(obj):
            for c in pod.get("containers", []) + pod.get("initContainers", []):
                image = c.get("image", "")
                name, digest = image.split("@", 1) if "@" in image else (image, "")
                tag = ""
                if ":" in name.rsplit("/", 1)[-1]:
                    name, tag = name.rsplit(":", 1)
                for rule in images:
                    if rule["name"] != name:
                        continue
                    name = rule.get("newName", name)
                    if "digest" in rule:
                        c["image"] = f"{name}@{rule['digest']}"
                    elif "newTag" in rule:
                        c["image"] = f"{name}:{rule['newTag']}"
                    else:
                        c["image"] = name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")


def _set_labels(objs: list[Obj], rules: list[Obj]) -> None:
    for rule in rules:
        if rule.get("includeSelectors"):
            raise KustomizeError("labels with includeSelectors: true is not supported")
        for obj in objs:
            obj.setdefault("metadata", {}).setdefault("labels", {}).update(rule["pairs"])
            if rule.get("includeTemplates"):
                template = obj.get("spec", {}).get("template")
                if isinstance(template, dict):
                    template.setdefault("metadata", {}).setdefault("labels", {}).update(rule["pairs"])


def _set_replicas(objs: list[Obj], rules: list[Obj]) -> None:
    for rule in rules:
        hits = [o for o in objs if o["kind"] in REPLICATED_KINDS and o["metadata"]["name"] == rule["name"]]
        if not hits:
            raise KustomizeError(f"replicas: no workload named {rule['name']}")
        for obj in hits:
            obj.setdefault("spec", {})["replicas"] = rule["count"]


def _set_namespace(objs: list[Obj], namespace: str) -> None:
    for obj in objs:
        if obj.get("kind") in CLUSTER_SCOPED:
            continue
        obj.setdefault("metadata", {})["namespace"] = namespace
        for subject in obj.get("subjects", []) if obj.get("kind", "").endswith("Binding") else []:
            if subject.get("kind") == "ServiceAccount":
                subject["namespace"] = namespace


# ---------------------------------------------------------------------------------------- build


def build(directory: Path, *, component: bool = False, accumulated: list[Obj] | None = None) -> list[Obj]:
    """The objects ``directory``'s kustomization renders to. A component is applied on top of
    ``accumulated`` (the including kustomization's objects) and returns the new whole set."""
    path = directory / "kustomization.yaml"
    if not path.is_file():
        raise KustomizeError(f"{directory} has no kustomization.yaml")
    k = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    unknown = set(k) - KNOWN_FIELDS
    if unknown:
        raise KustomizeError(f"{path}: unsupported fields {sorted(unknown)}")
    expected = "Component" if component else "Kustomization"
    if k.get("kind", "Kustomization") != expected:
        raise KustomizeError(f"{path}: kind must be {expected}")

    objs: list[Obj] = list(accumulated or [])
    renames: dict[tuple[str, str], str] = {}
    for ref in k.get("resources", []):
        target = directory / ref
        if target.is_dir():
            objs.extend(build(target))
        elif target.is_file():
            objs.extend(copy.deepcopy(_load_yaml_stream(target)))
        else:
            raise KustomizeError(f"{path}: resource {ref} does not exist")
    for ref in k.get("components", []):
        objs = build(directory / ref, component=True, accumulated=objs)
    generated, renames = _generate(k, directory)
    objs.extend(generated)

    seen: set[tuple[str, str, str]] = set()
    for obj in objs:
        if "kind" not in obj or "metadata" not in obj or "name" not in obj["metadata"]:
            raise KustomizeError(f"{path}: an object has no kind or metadata.name: {obj}")
        if _id(obj) in seen:
            raise KustomizeError(f"{path}: {_id(obj)} is defined twice")
        seen.add(_id(obj))

    objs = _apply_patches(objs, k.get("patches", []), directory)
    if k.get("namespace"):
        _set_namespace(objs, k["namespace"])
    _set_labels(objs, k.get("labels", []))
    if k.get("commonAnnotations"):
        for obj in objs:
            obj["metadata"].setdefault("annotations", {}).update(k["commonAnnotations"])
    _set_images(objs, k.get("images", []))
    _set_replicas(objs, k.get("replicas", []))
    _rename_references(objs, renames)
    return objs


def render(directory: Path) -> str:
    return yaml.safe_dump_all(build(directory), sort_keys=False, default_flow_style=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directories", nargs="+", type=Path)
    parser.add_argument("-o", "--output", type=Path, help="write <dir>/<overlay>.yaml instead of stdout")
    args = parser.parse_args(argv)
    for directory in args.directories:
        try:
            text = render(directory)
        except (KustomizeError, OSError, yaml.YAMLError, KeyError, IndexError, ValueError) as exc:
            print(f"kustomize {directory}: {exc}", file=sys.stderr)
            return 1
        if args.output:
            args.output.mkdir(parents=True, exist_ok=True)
            (args.output / f"{directory.name}.yaml").write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
