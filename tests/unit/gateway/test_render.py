"""gateway/render.py must print exactly what json_format.MessageToDict prints (same JSON bytes).

Random messages of every request and response type the gateway serves (every route of every
exposed service), with edge values: 64-bit extremes, NaN/infinities/-0.0 floats, unknown enum
numbers, non-ASCII text, bytes, maps with every key kind, well-known types, nesting.
"""

from __future__ import annotations

import math
import random

import pytest
from google.protobuf import descriptor as _descriptor
from google.protobuf import json_format
from google.protobuf.message import Message

from gateway.render import message_to_dict
from gateway.routing import compile_routes
from gateway.services import EXPOSED_SERVICES, load_services
from gateway.transcode import response_json

_FD = _descriptor.FieldDescriptor
_TEXT = ["", "a", "王小梅", 'line\nbreak "quoted" \\ back', "emoji 💇‍♀️", "\u2028\u0000ctl", "x" * 300]
_INTS32 = [0, 1, -1, 2**31 - 1, -(2**31)]
_UINTS32 = [0, 1, 2**32 - 1]
_INTS64 = [0, 1, -1, 2**53 + 1, 2**63 - 1, -(2**63)]
_UINTS64 = [0, 1, 2**64 - 1]
_FLOATS = [0.0, -0.0, 1.5, 1e16, 1e-7, 3.4e38, math.inf, -math.inf, math.nan, 0.1]


def _message_types() -> list[type[Message]]:
    services, _missing = load_services(EXPOSED_SERVICES, strict=False)
    seen: dict[str, type[Message]] = {}
    for route in compile_routes(services).routes:
        for cls in (route.response_class, route.request_class):
            seen.setdefault(cls.DESCRIPTOR.full_name, cls)
    return [seen[name] for name in sorted(seen)]


def _scalar(field: _descriptor.FieldDescriptor, rnd: random.Random) -> object:
    cpp = field.cpp_type
    if cpp == _FD.CPPTYPE_STRING:
        return (
            bytes(rnd.randrange(256) for _ in range(rnd.randrange(6)))
            if field.type == _FD.TYPE_BYTES
            else rnd.choice(_TEXT)
        )
    if cpp == _FD.CPPTYPE_BOOL:
        return rnd.random() < 0.5
    if cpp == _FD.CPPTYPE_INT32:
        return rnd.choice(_INTS32)
    if cpp == _FD.CPPTYPE_UINT32:
        return rnd.choice(_UINTS32)
    if cpp == _FD.CPPTYPE_INT64:
        return rnd.choice(_INTS64)
    if cpp == _FD.CPPTYPE_UINT64:
        return rnd.choice(_UINTS64)
    if cpp in (_FD.CPPTYPE_FLOAT, _FD.CPPTYPE_DOUBLE):
        return rnd.choice(_FLOATS)
    if cpp == _FD.CPPTYPE_ENUM:
        numbers = list(field.enum_type.values_by_number)
        if not field.enum_type.is_closed and rnd.random() < 0.2:
            return 4242  # unknown number in an open enum: printed as the number
        return rnd.choice(numbers)
    raise AssertionError(cpp)


def _fill_wkt(message: Message, rnd: random.Random) -> bool:
    name = message.DESCRIPTOR.full_name
    if name == "google.protobuf.Timestamp":
        message.seconds = rnd.choice([0, 1_700_000_000, 253402300799])
        message.nanos = rnd.choice([0, 1_000, 500_000_000, 123_456_789])
    elif name == "google.protobuf.Duration":
        message.seconds = rnd.choice([0, 3, -3, 86400])
        message.nanos = rnd.choice([0, 1_000_000]) * (1 if message.seconds >= 0 else -1)
    elif name == "google.protobuf.FieldMask":
        message.paths.extend(rnd.sample(["display_name", "phone", "care_profile.notes"], 2))
    elif name == "google.protobuf.Struct":
        message.update({"a": 1.5, "b": [True, None, "x"], "c": {"d": "王"}})
    elif name == "google.protobuf.Value":
        message.string_value = rnd.choice(_TEXT)
    elif name == "google.protobuf.Empty":
        pass
    elif name.startswith("google.protobuf.") and name.endswith("Value"):  # wrappers
        _fill(message, rnd, depth=3)
    else:
        return False
    return True


def _fill(message: Message, rnd: random.Random, depth: int) -> None:
    if message.DESCRIPTOR.full_name.startswith("google.protobuf.") and _fill_wkt(message, rnd):
        return
    for field in message.DESCRIPTOR.fields:
        if rnd.random() < 0.35:
            continue
        if field.containing_oneof is not None and message.WhichOneof(field.containing_oneof.name):
            continue
        target = field.message_type
        if target is not None and target.GetOptions().map_entry:
            key_field, value_field = target.fields_by_name["key"], target.fields_by_name["value"]
            container = getattr(message, field.name)
            for _ in range(rnd.randrange(3)):
                key = _scalar(key_field, rnd)
                if value_field.message_type is not None:
                    if depth < 3:
                        _fill(container[key], rnd, depth + 1)
                else:
                    container[key] = _scalar(value_field, rnd)
        elif field.is_repeated:
            container = getattr(message, field.name)
            for _ in range(rnd.randrange(4)):
                if target is not None:
                    if depth < 3:
                        _fill(container.add(), rnd, depth + 1)
                else:
                    container.append(_scalar(field, rnd))
        elif target is not None:
            if depth < 3:
                sub = getattr(message, field.name)
                _fill(sub, rnd, depth + 1)
                sub.SetInParent()
        else:
            setattr(message, field.name, _scalar(field, rnd))


def _both(message: Message) -> tuple[object, object]:
    def run(render):
        try:
            return response_json(render(message))
        except Exception as exc:  # both must fail the same way
            return type(exc).__name__

    expected = run(lambda m: json_format.MessageToDict(m, always_print_fields_with_no_presence=True))
    return expected, run(message_to_dict)


MESSAGE_TYPES = _message_types()


def test_every_route_type_is_covered() -> None:
    assert len(MESSAGE_TYPES) > 100  # the gateway serves well over a hundred routes


@pytest.mark.parametrize("cls", MESSAGE_TYPES, ids=lambda c: c.DESCRIPTOR.full_name)
def test_same_json_as_message_to_dict(cls: type[Message]) -> None:
    rnd = random.Random(cls.DESCRIPTOR.full_name)
    assert _both(cls()) == _both(cls())[:1] * 2  # the empty message: every default printed
    for _ in range(25):
        message = cls()
        _fill(message, rnd, depth=0)
        expected, got = _both(message)
        assert got == expected, message
