"""Hypothesis strategies for any protobuf request, built from its descriptor.

Values lean to the hostile: empty, NUL, `%00`, SQL-ish and malformed resource names, non-UTF-8
bytes, integer bounds, NaN, unknown enum numbers, out-of-range timestamps, and (top level only)
1 MB strings and 100k-item lists — far past any sane per-field limit, so the suite does not
depend on the exact limits the protos document.
"""

from __future__ import annotations

import uuid

from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from hypothesis import strategies as st

from tests.reliability.contract import fill_pattern, patterns_for

HUGE_TEXT = "x" * 1_000_000
HUGE_ITEMS = 100_000
MAX_DEPTH = 3

NASTY_TEXT = (
    "",
    " ",
    "\x00",
    "a\x00b",
    "%00",
    "\n\r\t",
    "'; DROP TABLE members; --",
    "stores/s1' OR '1'='1",
    "stores/no-such-store",
    "stores/%00",
    "stores/",
    "members/not-a-uuid",
    "members/00000000-0000-0000-0000-000000000000",
    "members/",
    "/",
    "*",
    "../../etc/passwd",
    "\ufffd\u202e\ud7ff",
    "名字🙂",
    "-1",
    "1e309",
    "null",
)

BAD_IDS = ("not-a-uuid", "%00", "\x00", "s1' OR '1'='1", "", "a/b", "../x")


def _good_id(var: str) -> str:
    return "s1" if var == "store" else str(uuid.uuid4())


def _names(fd: FieldDescriptor) -> st.SearchStrategy[str] | None:
    """Names in the shape a reference field expects: well-formed unknown ones and malformed ones."""
    patterns = patterns_for(fd)
    if not patterns:
        return None
    return st.builds(
        lambda pattern, bad, which: fill_pattern(
            pattern, lambda var: bad if which == var or which == "*" else _good_id(var)
        ),
        st.sampled_from(patterns),
        st.sampled_from(BAD_IDS),
        st.sampled_from(("", "*", "member", "store", "staff", "service", "appointment", "package")),
    )


_INT_BOUNDS = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}


def _integers(lo: int, hi: int) -> st.SearchStrategy[int]:
    edges = sorted({v for v in (0, 1, -1, lo, hi, 2**31 - 1, -(2**31), 2**53 + 1, 10**12) if lo <= v <= hi})
    return st.one_of(st.sampled_from(edges), st.integers(lo, hi))


def scalar(fd: FieldDescriptor, top: bool) -> st.SearchStrategy:
    t = fd.type
    if t == FieldDescriptor.TYPE_STRING:
        options = [st.sampled_from(NASTY_TEXT), st.text(max_size=24)]
        names = _names(fd)
        if names is not None:
            options.append(names)
        if top:
            options.append(st.just(HUGE_TEXT))
        return st.one_of(options)
    if t == FieldDescriptor.TYPE_BYTES:
        options = [st.binary(max_size=32), st.just(b"\xff\xfe\x00\xc3\x28")]
        if top:
            options.append(st.just(HUGE_TEXT.encode()))
        return st.one_of(options)
    if t in _INT_BOUNDS:
        return _integers(*_INT_BOUNDS[t])
    if t == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if t == FieldDescriptor.TYPE_DOUBLE:
        return st.floats(allow_nan=True, allow_infinity=True)
    if t == FieldDescriptor.TYPE_FLOAT:
        return st.floats(width=32, allow_nan=True, allow_infinity=True)
    if t == FieldDescriptor.TYPE_ENUM:
        known = [v.number for v in fd.enum_type.values]
        return st.sampled_from(sorted({*known, max(known) + 1, 999, -1}))
    raise AssertionError(f"unhandled field type {t} of {fd.full_name}")


@st.composite
def message(draw, desc: Descriptor, depth: int = 0) -> Message:
    """A message of type `desc` with a random subset of its fields set to hostile values."""
    msg = message_factory.GetMessageClass(desc)()
    if depth > MAX_DEPTH or not desc.fields:
        return msg
    chosen = draw(st.lists(st.sampled_from(list(desc.fields)), unique_by=lambda f: f.number, max_size=6))
    top = depth == 0
    for fd in chosen:
        is_message = fd.type == FieldDescriptor.TYPE_MESSAGE
        if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
            key_fd, value_fd = fd.message_type.fields_by_name["key"], fd.message_type.fields_by_name["value"]
            target = getattr(msg, fd.name)
            for _ in range(draw(st.integers(0, 3))):
                key = draw(scalar(key_fd, False))
                if value_fd.type == FieldDescriptor.TYPE_MESSAGE:
                    target[key].CopyFrom(draw(message(value_fd.message_type, depth + 1)))
                else:
                    target[key] = draw(scalar(value_fd, False))
        elif fd.is_repeated:
            item = message(fd.message_type, depth + 1) if is_message else scalar(fd, False)
            target = getattr(msg, fd.name)
            if top and draw(st.integers(0, 9)) == 0:
                target.extend([draw(item)] * HUGE_ITEMS)  # 100k copies of one item: cheap to build
            else:
                target.extend(draw(st.lists(item, max_size=3)))
        elif is_message:
            getattr(msg, fd.name).CopyFrom(draw(message(fd.message_type, depth + 1)))
        else:
            setattr(msg, fd.name, draw(scalar(fd, top)))
    return msg


RAW_BODIES = st.one_of(
    st.binary(min_size=1, max_size=64),
    st.sampled_from(
        (
            b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",  # a varint longer than 64 bits
            b"\x0a\xff\xff\xff\xff\x0f",  # field 1, length 4 GB, no data
            b"\x0a\x05ab",  # truncated string
            b"\x0a\x02\xc3\x28",  # field 1 (a string in most requests): invalid UTF-8
            b"\x07",  # wire type 7 does not exist
            b"\x08\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01",  # an over-long varint
        )
    ),
)
"""Whole request bodies that are not (or barely) protobuf."""
