"""Compile ``gwtest.proto`` with grpc_tools.protoc into a temp dir once per process and import it."""

from __future__ import annotations

import atexit
import functools
import importlib
import shutil
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import grpc_tools
from grpc_tools import protoc

HERE = Path(__file__).resolve().parent
PROTO = HERE / "gwtest.proto"


def _include_dirs() -> list[str]:
    import google.api

    wkt = Path(grpc_tools.__file__).resolve().parent / "_proto"
    googleapis = Path(google.api.__path__[0]).resolve().parent.parent  # dir containing google/api
    return [str(HERE), str(googleapis), str(wkt)]


@functools.cache
def load() -> SimpleNamespace:
    """``ns.pb2`` (messages), ``ns.pb2_grpc`` (stubs/servicers) and the two service descriptors."""
    out = Path(tempfile.mkdtemp(prefix="gwtest-"))
    atexit.register(shutil.rmtree, out, ignore_errors=True)
    args = ["protoc", *(f"-I{d}" for d in _include_dirs()), f"--python_out={out}", f"--grpc_python_out={out}"]
    rc = protoc.main([*args, str(PROTO)])
    if rc != 0:
        raise RuntimeError(f"protoc failed with {rc}")
    sys.path.insert(0, str(out))
    pb2 = importlib.import_module("gwtest_pb2")
    pb2_grpc = importlib.import_module("gwtest_pb2_grpc")
    return SimpleNamespace(
        pb2=pb2,
        pb2_grpc=pb2_grpc,
        members=pb2.DESCRIPTOR.services_by_name["MemberTestService"],
        ping=pb2.DESCRIPTOR.services_by_name["PingTestService"],
        out=out,
    )
