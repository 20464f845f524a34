"""Build small annotated services in the default descriptor pool without protoc (for config errors)."""

from __future__ import annotations

import itertools

from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import ServiceDescriptor

_counter = itertools.count()
_STRING, _MESSAGE, _INT32 = 9, 11, 5
_OPTIONAL, _REPEATED = 1, 3


def make_service(rules: dict[str, http_pb2.HttpRule]) -> ServiceDescriptor:
    """``Svc`` with one method per rule; request ``Req{name, inner{id}, tags[], count}``."""
    i = next(_counter)
    pkg = f"gwsynth.s{i}"
    fdp = descriptor_pb2.FileDescriptorProto(
        name=f"gwsynth/s{i}.proto", package=pkg, syntax="proto3", dependency=["google/api/annotations.proto"]
    )
    inner = fdp.message_type.add(name="Inner")
    inner.field.add(name="id", number=1, type=_STRING, label=_OPTIONAL)
    req = fdp.message_type.add(name="Req")
    req.field.add(name="name", number=1, type=_STRING, label=_OPTIONAL)
    req.field.add(name="inner", number=2, type=_MESSAGE, type_name=f".{pkg}.Inner", label=_OPTIONAL)
    req.field.add(name="tags", number=3, type=_STRING, label=_REPEATED)
    req.field.add(name="count", number=4, type=_INT32, label=_OPTIONAL)
    fdp.message_type.add(name="Resp")
    svc = fdp.service.add(name="Svc")
    for name, rule in rules.items():
        method = svc.method.add(name=name, input_type=f".{pkg}.Req", output_type=f".{pkg}.Resp")
        method.options.Extensions[annotations_pb2.http].CopyFrom(rule)
    pool = descriptor_pool.Default()
    pool.AddSerializedFile(fdp.SerializeToString())
    return pool.FindServiceByName(f"{pkg}.Svc")
