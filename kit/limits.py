"""Field limits of request messages: read from the descriptors, enforced in one place.

The contract states the bounds (``protos/peony/options/v1/limits.proto``): a field annotated with
``(peony.options.v1.max_length)`` / ``(peony.options.v1.max_items)`` has its own limit, any other
field the defaults below. Every string must also be free of NUL and the other C0 control
characters except tab and newline (PostgreSQL refuses NUL in text; the rest only hides things in
logs and receipts).

The kit's server interceptor calls :func:`validate` on every request before the handler runs, so
no handler sees an out-of-bound value. The public API, also for tests that generate requests
from the descriptors:

- :func:`field_limits` — the limits of one message type's own fields, by field name;
- :func:`violations` — every problem of a message (nested messages, repeated fields and maps
  included), as ``(field path, description)`` pairs, e.g. ``("lines[3].display_name", ...)``;
- :func:`validate` — the same, raised as ``InvalidArgument`` (reason ``INVALID_ARGUMENT``, like
  every other field violation).

What to check for a message type is worked out once per type and cached: a request costs one
``len()`` per string and repeated field plus one regex scan per string.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from peony.options.v1 import limits_pb2

from kit.errors import InvalidArgument

DEFAULT_MAX_LENGTH = 256
"""Characters (code points) of a string field without a ``max_length`` annotation."""
DEFAULT_MAX_BYTES = 1024
"""Bytes of a bytes field without a ``max_length`` annotation."""
DEFAULT_MAX_ITEMS = 100
"""Items of a repeated field (entries of a map) without a ``max_items`` annotation."""
MAX_VIOLATIONS = 50
"""At most this many violations are reported for one request (the rest are summarised)."""

# C0 controls except tab (0x09) and newline (0x0a).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f]")
CONTROL_DESCRIPTION = "must not contain NUL or other control characters (tab and newline are allowed)"


@dataclass(frozen=True)
class FieldLimit:
    """The bounds of one field. ``None`` where a bound does not apply to the field's type."""

    name: str
    max_length: int | None
    """string: characters (code points); bytes: bytes. Of each element when repeated, of each
    value when a map."""
    max_items: int | None
    """repeated and map fields: items / entries."""
    key_max_length: int | None = None
    """map fields with string keys: characters of each key."""
    text: bool = False
    """True when the value (or element, or map value) is a string: the control-character rule
    applies."""


def _limit(field: FieldDescriptor, extension: object, default: int | None) -> int | None:
    options = field.GetOptions()
    if options.HasExtension(extension):  # type: ignore[arg-type]
        return int(options.Extensions[extension])  # type: ignore[index]
    return default


def _scalar_length(field: FieldDescriptor) -> int | None:
    if field.type == FieldDescriptor.TYPE_STRING:
        return _limit(field, limits_pb2.max_length, DEFAULT_MAX_LENGTH)
    if field.type == FieldDescriptor.TYPE_BYTES:
        return _limit(field, limits_pb2.max_length, DEFAULT_MAX_BYTES)
    return None


def _is_map(field: FieldDescriptor) -> bool:
    return field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type.GetOptions().map_entry


_limits_cache: dict[str, Mapping[str, FieldLimit]] = {}


def field_limits(descriptor: Descriptor) -> Mapping[str, FieldLimit]:
    """The limits of ``descriptor``'s own string, bytes, repeated and map fields, by field name.

    Nested message fields are not expanded: call again with ``field.message_type``.
    """
    cached = _limits_cache.get(descriptor.full_name)
    if cached is not None:
        return cached
    out: dict[str, FieldLimit] = {}
    for field in descriptor.fields:
        if _is_map(field):
            key, value = field.message_type.fields_by_name["key"], field.message_type.fields_by_name["value"]
            out[field.name] = FieldLimit(
                field.name,
                max_length=_limit(field, limits_pb2.max_length, _scalar_length(value)),
                max_items=_limit(field, limits_pb2.max_items, DEFAULT_MAX_ITEMS),
                key_max_length=_scalar_length(key) if key.type == FieldDescriptor.TYPE_STRING else None,
                text=value.type == FieldDescriptor.TYPE_STRING,
            )
        elif field.is_repeated or field.type in (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BYTES):
            out[field.name] = FieldLimit(
                field.name,
                max_length=_scalar_length(field),
                max_items=_limit(field, limits_pb2.max_items, DEFAULT_MAX_ITEMS)
                if field.is_repeated
                else None,
                text=field.type == FieldDescriptor.TYPE_STRING,
            )
    result = MappingProxyType(out)
    _limits_cache[descriptor.full_name] = result
    return result


# --- the checker, compiled once per message type --------------------------------------------------

Report = Callable[[str, str], None]
Check = Callable[[Message, str, Report], None]


def _text_problem(value: str, max_length: int | None) -> str | None:
    if max_length is not None and len(value) > max_length:
        return f"must be at most {max_length} characters"
    if _CONTROL.search(value):
        return CONTROL_DESCRIPTION
    return None


def _bytes_problem(value: bytes, max_length: int | None) -> str | None:
    if max_length is not None and len(value) > max_length:
        return f"must be at most {max_length} bytes"
    return None


def _compile_field(field: FieldDescriptor, limit: FieldLimit | None) -> Check | None:
    name = field.name
    if _is_map(field):
        assert limit is not None
        value_field = field.message_type.fields_by_name["value"]
        value_check = (
            _checker(value_field.message_type) if value_field.type == FieldDescriptor.TYPE_MESSAGE else None
        )
        key_is_text = limit.key_max_length is not None

        def check_map(message: Message, prefix: str, report: Report) -> None:
            entries = getattr(message, name)
            if not entries:
                return
            if limit.max_items is not None and len(entries) > limit.max_items:
                report(prefix + name, f"must have at most {limit.max_items} entries")
                return
            for key, value in entries.items():
                if key_is_text and (problem := _text_problem(key, limit.key_max_length)):
                    report(prefix + name, f"keys {problem}")
                    continue
                path = f"{prefix}{name}[{key}]"
                if limit.text:
                    if problem := _text_problem(value, limit.max_length):
                        report(path, problem)
                elif value_check is not None:
                    value_check(value, path + ".", report)
                elif isinstance(value, bytes) and (problem := _bytes_problem(value, limit.max_length)):
                    report(path, problem)

        return check_map

    if field.type == FieldDescriptor.TYPE_MESSAGE:
        sub = _checker(field.message_type)
        if sub is None and not field.is_repeated:
            return None
        if field.is_repeated:
            max_items = limit.max_items if limit else None

            def check_messages(message: Message, prefix: str, report: Report) -> None:
                items = getattr(message, name)
                if max_items is not None and len(items) > max_items:
                    report(prefix + name, f"must have at most {max_items} items")
                    return
                if sub is not None:
                    for i, item in enumerate(items):
                        sub(item, f"{prefix}{name}[{i}].", report)

            return check_messages

        assert sub is not None

        def check_message(message: Message, prefix: str, report: Report) -> None:
            if message.HasField(name):
                sub(getattr(message, name), f"{prefix}{name}.", report)

        return check_message

    if limit is None:  # a singular number, bool or enum: nothing to bound
        return None
    problem_of: Callable[..., str | None] | None = (
        _text_problem if limit.text else _bytes_problem if field.type == FieldDescriptor.TYPE_BYTES else None
    )
    max_length = limit.max_length
    if field.is_repeated:
        max_items = limit.max_items

        def check_repeated(message: Message, prefix: str, report: Report) -> None:
            items = getattr(message, name)
            if not items:
                return
            if max_items is not None and len(items) > max_items:
                report(prefix + name, f"must have at most {max_items} items")
                return
            if problem_of is not None:
                for i, item in enumerate(items):
                    if problem := problem_of(item, max_length):
                        report(f"{prefix}{name}[{i}]", problem)

        return check_repeated

    assert problem_of is not None

    def check_scalar(message: Message, prefix: str, report: Report) -> None:
        value = getattr(message, name)
        if value and (problem := problem_of(value, max_length)):
            report(prefix + name, problem)

    return check_scalar


_checkers: dict[str, Check | None] = {}
_compiling: set[str] = set()


# google.protobuf.Timestamp's documented range, 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z: a
# value outside it cannot become a datetime (or a PostgreSQL timestamptz) and is refused here.
_TIMESTAMP_MIN_SECONDS = -62_135_596_800
_TIMESTAMP_MAX_SECONDS = 253_402_300_799
_DURATION_MAX_SECONDS = 315_576_000_000  # ±10,000 years, google.protobuf.Duration's range


def _check_timestamp(message: Message, prefix: str, report: Report) -> None:
    seconds, nanos = message.seconds, message.nanos  # type: ignore[attr-defined]
    if not _TIMESTAMP_MIN_SECONDS <= seconds <= _TIMESTAMP_MAX_SECONDS or not 0 <= nanos <= 999_999_999:
        report(prefix.rstrip("."), "must be a time between 0001-01-01 and 9999-12-31 (UTC)")


def _check_duration(message: Message, prefix: str, report: Report) -> None:
    seconds, nanos = message.seconds, message.nanos  # type: ignore[attr-defined]
    if (
        abs(seconds) > _DURATION_MAX_SECONDS
        or abs(nanos) > 999_999_999
        or (seconds > 0 and nanos < 0)
        or (seconds < 0 and nanos > 0)
    ):
        report(prefix.rstrip("."), "must be a duration within ±10,000 years")


_WELL_KNOWN: dict[str, Check] = {
    "google.protobuf.Timestamp": _check_timestamp,
    "google.protobuf.Duration": _check_duration,
}


def _checker(descriptor: Descriptor) -> Check | None:
    """The compiled check of a message type; None when the type has nothing to bound."""
    key = descriptor.full_name
    if key in _WELL_KNOWN:
        return _WELL_KNOWN[key]
    if key in _compiling:
        # A recursive type: check through a late-bound reference to the finished checker.
        def late(message: Message, prefix: str, report: Report) -> None:
            check = _checkers.get(key)
            if check is not None:
                check(message, prefix, report)

        return late
    if key in _checkers:
        return _checkers[key]
    _compiling.add(key)
    try:
        limits = field_limits(descriptor)
        checks = [
            check
            for field in descriptor.fields
            if (check := _compile_field(field, limits.get(field.name))) is not None
        ]
    finally:
        _compiling.discard(key)
    check_all: Check | None = None
    if checks:

        def check_all(message: Message, prefix: str, report: Report) -> None:
            for check in checks:
                check(message, prefix, report)

    _checkers[key] = check_all
    return check_all


class _TooMany(Exception):
    pass


def violations(message: Message) -> list[tuple[str, str]]:
    """Every field of ``message`` past its limit, as ``(field path, description)`` pairs."""
    check = _checker(message.DESCRIPTOR)
    if check is None:
        return []
    found: list[tuple[str, str]] = []

    def report(path: str, description: str) -> None:
        if len(found) >= MAX_VIOLATIONS:
            raise _TooMany
        found.append((path, description))

    try:
        check(message, "", report)
    except _TooMany:
        found.append(
            ("", f"more than {MAX_VIOLATIONS} fields are past their limits; the rest are not listed")
        )
    return found


def validate(message: Message) -> None:
    """Raises ``InvalidArgument`` listing every field past its limit."""
    problems = violations(message)
    if problems:
        raise InvalidArgument(problems)
