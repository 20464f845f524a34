"""HTTP request -> protobuf request message, protobuf response -> JSON (proto3 JSON mapping).

The request message is assembled from three sources, as ``google.api.HttpRule`` specifies:

1. the body: ``body: "*"`` parses the whole JSON object into the request, ``body: "<field>"``
   parses it into that top-level field, no ``body`` means the request has none;
2. the query string: every field not bound by the path or the body (scalars, repeated scalars as
   repeated keys, nested fields by dotted names, well-known types in their JSON string form:
   ``update_mask=displayName,phone``, ``created_after=2024-01-01T00:00:00Z``; enums by name or
   number, bools as ``true``/``false``/``1``/``0``, 64-bit integers as decimal strings). Keys may use
   the proto field name or its lowerCamelCase JSON name. With ``body: "*"`` there is nothing left
   to bind, so any query parameter is rejected;
3. the path variables, applied last.

Every problem is reported as a ``BadRequest`` field violation (raised as a
:class:`~gateway.errors.GatewayError`), before any backend is called. Unknown fields are errors,
not silently dropped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from google.protobuf import descriptor as _descriptor
from google.protobuf import json_format
from google.protobuf.message import Message

from gateway.errors import GatewayError
from gateway.render import message_to_dict
from gateway.routing import Route

__all__ = ["build_request", "field_mask_paths", "render_response", "response_json"]

_FD = _descriptor.FieldDescriptor
_WRAPPERS = {
    "google.protobuf.DoubleValue",
    "google.protobuf.FloatValue",
    "google.protobuf.Int64Value",
    "google.protobuf.UInt64Value",
    "google.protobuf.Int32Value",
    "google.protobuf.UInt32Value",
    "google.protobuf.BoolValue",
    "google.protobuf.StringValue",
    "google.protobuf.BytesValue",
}
_STRING_WKTS = {"google.protobuf.Timestamp", "google.protobuf.Duration"}
_FIELD_MASK = "google.protobuf.FieldMask"
_TRUE = {"true", "1"}
_FALSE = {"false", "0"}
_INT = re.compile(r"-?\d+\Z")
_CAMEL = re.compile(r"[A-Z]")

# ``Descriptor -> {name or json_name -> field}``; descriptors are immutable so this never goes stale.
_FIELD_INDEX: dict[_descriptor.Descriptor, dict[str, _descriptor.FieldDescriptor]] = {}


def _field_named(message: _descriptor.Descriptor, name: str) -> _descriptor.FieldDescriptor | None:
    index = _FIELD_INDEX.get(message)
    if index is None:
        index = {}
        for f in message.fields:
            index[f.json_name] = f
        for f in message.fields:
            index[f.name] = f  # the proto name wins if a json_name collides with another field's name
        _FIELD_INDEX[message] = index
    return index.get(name)


# --------------------------------------------------------------------------------------------
# Errors from json_format


_FAILED_FIELD = re.compile(r"Failed to parse (\S+) field: ")
_NO_FIELD = re.compile(r'Message type "[^"]+" has no field named "([^"]+)"')
_AT_SUFFIX = re.compile(r'\s+at\s+"?[\w.\[\]]+"?\.?\Z')


def _violation(exc: Exception, prefix: str) -> tuple[str, str]:
    """``(field path, description)`` from a ``json_format.ParseError`` chain."""
    text = str(exc)
    parts: list[str] = []
    while (m := _FAILED_FIELD.match(text)) is not None:
        parts.append(m.group(1))
        text = text[m.end() :]
    if (m := _NO_FIELD.match(text)) is not None:
        parts.append(m.group(1))
        description = "unknown field"
    else:
        description = text.split("\n", 1)[0].rstrip(".")
        while (m := _AT_SUFFIX.search(description)) is not None:
            description = description[: m.start()].rstrip(".")
    field = ".".join(p for p in (prefix, *parts) if p)
    return field, _friendly(description) or "invalid value"


_FRIENDLY = (
    (re.compile(r"invalid literal for int\(\) with base 10: (.*)\Z"), "expected an integer, got {0}"),
    (re.compile(r"Couldn't parse integer: (.*)\Z"), "expected an integer, got {0}"),
    (re.compile(r"could not convert string to float: (.*)\Z"), "expected a number, got {0}"),
    (re.compile(r"expected string or bytes-like object.*\Z"), "expected a string"),
    (re.compile(r"Bool value (.*) is not acceptable for integer field\Z"), "expected an integer, got {0}"),
)


def _friendly(description: str) -> str:
    for pattern, template in _FRIENDLY:
        m = pattern.match(description)
        if m is not None:
            return template.format(*m.groups())
    return description


# --------------------------------------------------------------------------------------------
# Query string / path values


def field_mask_paths(raw: str) -> list[str]:
    """Paths of a FieldMask given as ``a,bC,d.e`` (camelCase per the JSON mapping, or snake_case)."""
    out = []
    for path in raw.split(","):
        path = path.strip()
        if not path:
            continue
        out.append(_CAMEL.sub(lambda m: "_" + m.group(0).lower(), path) if _CAMEL.search(path) else path)
    return out


def _scalar_json(field: _descriptor.FieldDescriptor, raw: str) -> Any:
    if field.type == _FD.TYPE_BOOL:
        lowered = raw.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError(f"expected true or false, got {raw!r}")
    if field.type == _FD.TYPE_ENUM:
        return int(raw) if _INT.match(raw) else raw
    # Integers, floats, strings and (base64) bytes: json_format accepts their string form.
    return raw


def _text_to_json(field: _descriptor.FieldDescriptor, raw: str) -> Any:
    message = field.message_type
    if message is None:
        return _scalar_json(field, raw)
    name = message.full_name
    if name in _STRING_WKTS:
        return raw
    if name == _FIELD_MASK:
        return None  # handled by the caller (set directly)
    if name in _WRAPPERS:
        return _scalar_json(message.fields_by_name["value"], raw)
    raise ValueError("a message field cannot be set from a single value; set its sub-fields (dotted names)")


def _assign(target: Message, field: _descriptor.FieldDescriptor, values: list[str], display: str) -> None:
    """Set ``field`` of ``target`` from text values (query string or path), via json_format."""
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        raise GatewayError.bad_request([(display, "map fields cannot be set from the URL")])
    if not field.is_repeated and len(values) > 1:
        raise GatewayError.bad_request([(display, "repeated value for a non-repeated field")])
    if field.message_type is not None and field.message_type.full_name == _FIELD_MASK:
        if field.is_repeated:
            raise GatewayError.bad_request([(display, "repeated FieldMask cannot be set from the URL")])
        mask = getattr(target, field.name)
        mask.Clear()
        mask.paths.extend(field_mask_paths(values[0]))
        return
    try:
        converted = [_text_to_json(field, v) for v in values]
    except ValueError as exc:
        raise GatewayError.bad_request([(display, str(exc))]) from None
    value: Any = converted if field.is_repeated else converted[0]
    try:
        json_format.ParseDict({field.name: value}, target, ignore_unknown_fields=False)
    except (json_format.ParseError, ValueError, TypeError) as exc:
        _, description = _violation(exc, "")
        raise GatewayError.bad_request([(display, description)]) from None


def _descend(message: Message, fields: Iterable[_descriptor.FieldDescriptor]) -> Message:
    for f in fields:
        message = getattr(message, f.name)
    return message


def _resolve_query_key(
    request: _descriptor.Descriptor, key: str
) -> tuple[tuple[_descriptor.FieldDescriptor, ...], str | None]:
    """The field path for a query key, or ``((), problem)``."""
    fields: list[_descriptor.FieldDescriptor] = []
    current = request
    parts = key.split(".")
    for i, part in enumerate(parts):
        f = _field_named(current, part)
        if f is None:
            return (), "unknown field"
        fields.append(f)
        if i == len(parts) - 1:
            break
        if f.message_type is None or f.is_repeated:
            return (), f"{part!r} has no sub-fields that can be set from the query string"
        if f.message_type.full_name.startswith("google.protobuf."):
            return (), f"{part!r} is a well-known type; set it as a whole"
        current = f.message_type
    return tuple(fields), None


def _overlaps(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    n = min(len(a), len(b))
    return a[:n] == b[:n]


# --------------------------------------------------------------------------------------------
# Body


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def _load_json(body: bytes) -> Any:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise GatewayError.bad_request([("body", "request body is not valid UTF-8")]) from None
    if not text.strip():
        return _EMPTY
    try:
        return json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        raise GatewayError.bad_request(
            [("body", f"malformed JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})")]
        ) from None
    except (ValueError, RecursionError) as exc:
        raise GatewayError.bad_request([("body", f"malformed JSON: {exc}")]) from None


_EMPTY = object()


def _parse_body(route: Route, request: Message, body: bytes) -> None:
    if route.body == "":
        if body.strip():
            raise GatewayError.bad_request([("body", "this method does not take a request body")])
        return
    data = _load_json(body)
    if data is _EMPTY:
        return
    if route.body == "*":
        if not isinstance(data, dict):
            raise GatewayError.bad_request([("body", "the request body must be a JSON object")])
    else:
        field = route.method.input_type.fields_by_name[route.body]
        data = {field.json_name: data}
    try:
        json_format.ParseDict(data, request, ignore_unknown_fields=False)
    except (json_format.ParseError, ValueError, TypeError, RecursionError) as exc:
        field_name, description = _violation(exc, "")
        raise GatewayError.bad_request([(field_name or "body", description)]) from None


# --------------------------------------------------------------------------------------------
# Public API


def build_request(
    route: Route,
    path_params: Mapping[str, str],
    query: Iterable[tuple[str, str]],
    body: bytes,
) -> Message:
    """The request message for ``route`` from decoded path variables, query items and the raw body.

    Raises :class:`~gateway.errors.GatewayError` (400, INVALID_ARGUMENT, with field violations).
    """
    request: Message = route.request_class()
    _parse_body(route, request, body)

    # Query string: group values per field (``pageSize`` and ``page_size`` are the same field).
    grouped: dict[tuple[str, ...], tuple[str, tuple[_descriptor.FieldDescriptor, ...], list[str]]] = {}
    violations: list[tuple[str, str]] = []
    bound = [b.variable.field_path for b in route.variables]
    if route.body and route.body != "*":
        bound.append((route.body,))
    for key, value in query:
        if route.body == "*":
            violations.append((key, "query parameters are not accepted: every field comes from the body"))
            continue
        fields, problem = _resolve_query_key(route.method.input_type, key)
        if problem is not None:
            violations.append((key, problem))
            continue
        names = tuple(f.name for f in fields)
        if any(_overlaps(names, b) for b in bound):
            violations.append((key, "this field is bound by the path or the body, not the query string"))
            continue
        entry = grouped.setdefault(names, (key, fields, []))
        entry[2].append(value)
    oneofs: dict[tuple[str, ...], str] = {}
    for names, (display, fields, values) in grouped.items():
        leaf = fields[-1]
        if leaf.containing_oneof is not None:  # two members of one oneof
            key = (*names[:-1], leaf.containing_oneof.name)
            if key in oneofs:
                violations.append((display, f"conflicts with {oneofs[key]!r} (same oneof)"))
                continue
            oneofs[key] = display
        try:
            _assign(_descend(request, fields[:-1]), leaf, values, display)
        except GatewayError as exc:
            violations.extend(exc.violations)

    for b in route.variables:
        value = path_params[b.variable.dotted]
        leaf = b.fields[-1]
        if leaf.type == _FD.TYPE_STRING and not leaf.is_repeated and value.isascii():
            # Plain ASCII text into a string field: setting it is all json_format would do
            # (its checks are for other types and unpaired surrogates), at a fraction of the cost.
            setattr(_descend(request, b.fields[:-1]), leaf.name, value)
            continue
        try:
            _assign(_descend(request, b.fields[:-1]), b.fields[-1], [value], b.variable.dotted)
        except GatewayError as exc:
            violations.extend(exc.violations)
    if violations:
        raise GatewayError.bad_request(violations)
    return request


def render_response(route: Route, message: Message) -> Any:
    """The JSON value (dict, or anything for ``response_body``) for a backend response."""
    data = message_to_dict(message)  # = MessageToDict(..., always_print_fields_with_no_presence=True)
    if route.response_body:
        field = route.method.output_type.fields_by_name[route.response_body]
        return data.get(field.json_name)
    return data


# ``json.dumps(value, ensure_ascii=False, separators=(",", ":"))`` builds this encoder on every
# call (its arguments are not the defaults); built once, it gives the same text.
_encode_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def response_json(value: Any) -> bytes:
    return _encode_json(value).encode("utf-8")
