"""Writes gateway/openapi.json: the REST contract, from the protos' `google.api.http` annotations.

The routes are the gateway's own (`gateway.routing.compile_routes` over `gateway.services`), so the
document lists exactly what the gateway serves; the descriptions are the `.proto` comments, read
from a descriptor set that protoc (grpcio-tools' bundled one, as in tools/genproto.py) writes with
source info. `--check` fails when the committed file is stale (`make gen-check`).

    python tools/gen_openapi.py [--check]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "gen")]

from google.protobuf import descriptor_pb2  # noqa: E402

from tools.genproto import PROTO_DIR, _grpc_tools_include, _proto_files  # noqa: E402

# source_code_info path steps (descriptor.proto field numbers)
_FILE_MESSAGE, _FILE_ENUM, _FILE_SERVICE = 4, 5, 6
_MESSAGE_FIELD, _MESSAGE_NESTED, _MESSAGE_ENUM = 2, 3, 4
_ENUM_VALUE, _SERVICE_METHOD = 2, 2


def _clean(comment: str) -> str:
    lines = [line[1:] if line.startswith(" ") else line for line in comment.strip("\n").split("\n")]
    return "\n".join(lines).strip()


def _index_file(proto: descriptor_pb2.FileDescriptorProto) -> dict[tuple[int, ...], str]:
    """source path -> full element name, for every message, field, enum, value, service, method."""
    names: dict[tuple[int, ...], str] = {}
    package = proto.package

    def enum(path: tuple[int, ...], parent: str, e: descriptor_pb2.EnumDescriptorProto) -> None:
        full = f"{parent}.{e.name}"
        names[path] = full
        for i, value in enumerate(e.value):
            # Enum values live in the enum's parent scope in protobuf; documented under the enum here.
            names[(*path, _ENUM_VALUE, i)] = f"{full}.{value.name}"

    def message(path: tuple[int, ...], parent: str, m: descriptor_pb2.DescriptorProto) -> None:
        full = f"{parent}.{m.name}"
        names[path] = full
        for i, field in enumerate(m.field):
            names[(*path, _MESSAGE_FIELD, i)] = f"{full}.{field.name}"
        for i, nested in enumerate(m.nested_type):
            message((*path, _MESSAGE_NESTED, i), full, nested)
        for i, e in enumerate(m.enum_type):
            enum((*path, _MESSAGE_ENUM, i), full, e)

    for i, m in enumerate(proto.message_type):
        message((_FILE_MESSAGE, i), package, m)
    for i, e in enumerate(proto.enum_type):
        enum((_FILE_ENUM, i), package, e)
    for i, service in enumerate(proto.service):
        full = f"{package}.{service.name}"
        names[(_FILE_SERVICE, i)] = full
        for j, method in enumerate(service.method):
            names[(_FILE_SERVICE, i, _SERVICE_METHOD, j)] = f"{full}.{method.name}"
    return names


def proto_comments() -> dict[str, str]:
    """Leading comment of every element of protos/peony/**, by full name."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "peony.binpb"
        cmd = [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"--proto_path={PROTO_DIR}",
            f"--proto_path={_grpc_tools_include()}",
            "--include_source_info",
            f"--descriptor_set_out={out}",
            *_proto_files(),
        ]
        result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise SystemExit(f"protoc failed:\n{result.stderr or result.stdout}")
        files = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    comments: dict[str, str] = {}
    for proto in files.file:
        names = _index_file(proto)
        for location in proto.source_code_info.location:
            name = names.get(tuple(location.path))
            if name and location.leading_comments.strip():
                comments[name] = _clean(location.leading_comments)
    return comments


def render() -> str:
    from gateway.openapi import build_document
    from gateway.openapi import render as render_json
    from gateway.routing import compile_routes
    from gateway.services import load_services

    services, _ = load_services()
    router = compile_routes(services)
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    return render_json(build_document(router.routes, proto_comments(), version=version))


def main() -> int:
    from gateway.openapi import DOCUMENT_PATH

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when gateway/openapi.json is stale")
    args = parser.parse_args()
    text = render()
    shown = DOCUMENT_PATH.relative_to(ROOT)
    if args.check:
        if not DOCUMENT_PATH.exists() or DOCUMENT_PATH.read_text(encoding="utf-8") != text:
            print(f"{shown} is stale: run python tools/gen_openapi.py (make gen)")
            return 1
        return 0
    DOCUMENT_PATH.write_text(text, encoding="utf-8")
    print(f"wrote {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
