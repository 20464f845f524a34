"""Generate the Python code for the Peony contract: ``protos/peony/**/*.proto`` -> ``gen/peony/``.

    python tools/genproto.py           regenerate gen/peony (stale files are removed)
    python tools/genproto.py --check   exit 1, listing the differing files, when gen/peony is stale

Runs ``grpc_tools.protoc`` (the protoc bundled with grpcio-tools, so every machine produces the same
bytes) with two include paths: ``protos/`` (our sources plus the vendored ``google/api`` and
``google/rpc`` files) and grpc_tools' bundled ``_proto`` directory (``google/protobuf/*``). It emits
``*_pb2.py``, ``*_pb2.pyi``, ``*_pb2_grpc.py`` and, through mypy-protobuf's ``protoc-gen-mypy_grpc``
plugin, ``*_pb2_grpc.pyi``. Only ``peony/**`` is generated: the ``google.api`` / ``google.rpc`` modules
come from the googleapis-common-protos wheel. Every directory under ``gen/peony`` gets an empty
``__init__.py`` so the packages import as regular packages.

Works from any working directory; paths are relative to the repository root (the parent of tools/).
"""

from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "protos"
GEN_DIR = ROOT / "gen"
PACKAGE = "peony"  # the only top-level package we generate (google/* comes from the wheel)
MYPY_GRPC_PLUGIN = "protoc-gen-mypy_grpc"
IGNORED_NAMES = {"__pycache__", ".DS_Store"}


class GenError(Exception):
    pass


def _proto_files() -> list[str]:
    """Every ``protos/peony/**/*.proto``, as paths relative to ``protos/``, in a stable order."""
    files = sorted(p.relative_to(PROTO_DIR).as_posix() for p in (PROTO_DIR / PACKAGE).rglob("*.proto"))
    if not files:
        raise GenError(f"no .proto files under {PROTO_DIR / PACKAGE}")
    return files


def _grpc_tools_include() -> Path:
    try:
        import grpc_tools
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise GenError(
            f"grpcio-tools is not installed for {sys.executable}; run `make install` "
            "(or `pip install -e '.[dev]'`)"
        ) from exc
    return Path(grpc_tools.__file__).resolve().parent / "_proto"


def _mypy_grpc_plugin() -> Path:
    """The mypy-protobuf gRPC stub plugin, next to this interpreter (the venv) or on PATH."""
    candidates = [Path(sys.executable).parent / MYPY_GRPC_PLUGIN]
    found = shutil.which(MYPY_GRPC_PLUGIN)
    if found:
        candidates.append(Path(found))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise GenError(
        f"{MYPY_GRPC_PLUGIN} not found next to {sys.executable} or on PATH; "
        "install the dev extras (mypy-protobuf): `pip install -e '.[dev]'`"
    )


def generate(out_dir: Path) -> None:
    """Generate ``out_dir/peony/**`` from the protos. ``out_dir`` must exist and be empty."""
    files = _proto_files()
    cmd = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"--proto_path={PROTO_DIR}",
        f"--proto_path={_grpc_tools_include()}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        f"--plugin={MYPY_GRPC_PLUGIN}={_mypy_grpc_plugin()}",
        f"--mypy_grpc_out={out_dir}",
        *files,
    ]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise GenError(f"protoc failed (exit {result.returncode}):\n{result.stderr or result.stdout}")
    # Surface warnings (e.g. unused imports) but not mypy-protobuf's "Writing mypy to ..." chatter.
    warnings = [line for line in result.stderr.splitlines() if line and not line.startswith("Writing mypy")]
    if warnings:
        print("\n".join(warnings), file=sys.stderr)

    package_root = out_dir / PACKAGE
    # grpc_tools writes a *_pb2_grpc.py for every file; drop the empty ones (protos without a
    # service: resources, events) so only real stubs exist. Their .pyi twins go with them.
    for grpc_module in package_root.rglob("*_pb2_grpc.py"):
        if "\nclass " not in grpc_module.read_text():
            grpc_module.unlink()
            grpc_module.with_suffix(".pyi").unlink(missing_ok=True)
    for directory in [package_root, *sorted(p for p in package_root.rglob("*") if p.is_dir())]:
        (directory / "__init__.py").write_text("")


def _tree(root: Path) -> dict[str, Path]:
    """Relative path -> file for every generated file under ``root`` (caches ignored)."""
    if not root.is_dir():
        return {}
    out: dict[str, Path] = {}
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if any(part in IGNORED_NAMES for part in rel.parts) or path.suffix == ".pyc":
            continue
        if path.is_file():
            out[rel.as_posix()] = path
    return out


def diff(expected_root: Path, actual_root: Path, label: str = "") -> list[str]:
    """Human-readable differences between two generated trees, sorted; paths shown as ``label/rel``."""
    expected, actual = _tree(expected_root), _tree(actual_root)
    problems = []
    for rel in sorted(expected.keys() | actual.keys()):
        shown = f"{label}/{rel}" if label else rel
        if rel not in actual:
            problems.append(f"missing:  {shown}")
        elif rel not in expected:
            problems.append(f"stale:    {shown} (its .proto is gone)")
        elif not filecmp.cmp(expected[rel], actual[rel], shallow=False):
            problems.append(f"outdated: {shown}")
    return problems


def write() -> int:
    # Generate into a temporary directory first, then swap: a protoc error leaves the committed
    # tree untouched, and on success files of removed protos disappear with the old tree.
    with tempfile.TemporaryDirectory(prefix="genproto-") as tmp:
        generate(Path(tmp))
        target = GEN_DIR / PACKAGE
        if target.exists():
            shutil.rmtree(target)
        GEN_DIR.mkdir(exist_ok=True)
        shutil.copytree(Path(tmp) / PACKAGE, target)
    count = len(_tree(GEN_DIR / PACKAGE))
    print(f"generated {count} files in {(GEN_DIR / PACKAGE).relative_to(ROOT)}/")
    return 0


def check() -> int:
    target = (GEN_DIR / PACKAGE).relative_to(ROOT).as_posix()
    with tempfile.TemporaryDirectory(prefix="genproto-check-") as tmp:
        generate(Path(tmp))
        problems = diff(Path(tmp) / PACKAGE, GEN_DIR / PACKAGE, label=target)
    if problems:
        print(f"{target}/ is stale: it does not match protos/. Differing files:", file=sys.stderr)
        for line in problems:
            print(f"  {line}", file=sys.stderr)
        print("Run `make gen` (python tools/genproto.py) and commit the result.", file=sys.stderr)
        return 1
    print(f"{target}/ is up to date")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="do not write; exit 1 and list the differing files when gen/peony is stale",
    )
    args = parser.parse_args(argv)
    try:
        return check() if args.check else write()
    except GenError as exc:
        print(f"genproto: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
