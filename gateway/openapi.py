"""The REST contract as an OpenAPI 3.0 document, built from the same routes the gateway serves.

:func:`build_document` walks the compiled routes (``google.api.http`` annotations, see
:mod:`gateway.routing`) and the request/response message descriptors, and writes what the gateway
really does with JSON (:mod:`gateway.transcode`): proto3 JSON names (lowerCamelCase), 64-bit
integers as strings, enums by name, well-known types in their JSON forms, the field limits of
:mod:`kit.limits` as ``maxLength`` / ``maxItems``, and the gateway's error body for every
non-2xx answer. Descriptions are the ``.proto`` comments, passed in by the generator
(``tools/gen_openapi.py``), since the generated Python descriptors carry no source info.

Resource-name path variables (``{name=members/*/cards/*}``) are expanded into one path parameter
per ``*`` (``/v1/members/{memberId}/cards/{cardId}``), so that a client, or Swagger UI's "try it
out", sends plain segments — a ``/`` encoded inside one parameter would not match the route.

The committed document is ``gateway/openapi.json`` (``make gen``; ``make gen-check`` fails when it
is stale); the gateway serves it at ``/openapi.json`` and Swagger UI at ``/docs``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from google.protobuf import descriptor as _d

from gateway.routing import Route, Variable
from kit import limits

__all__ = ["DOCUMENT_PATH", "build_document", "expanded_path", "load_document", "render"]

DOCUMENT_PATH = Path(__file__).with_name("openapi.json")
OPENAPI_VERSION = "3.0.3"  # Swagger UI 4 (the bundled one) renders 3.0, not 3.1
ERROR_SCHEMA = "Error"

_F = _d.FieldDescriptor
_INT32 = {_F.TYPE_INT32, _F.TYPE_SINT32, _F.TYPE_SFIXED32}
_UINT32 = {_F.TYPE_UINT32, _F.TYPE_FIXED32}
_INT64 = {_F.TYPE_INT64, _F.TYPE_SINT64, _F.TYPE_SFIXED64}
_UINT64 = {_F.TYPE_UINT64, _F.TYPE_FIXED64}

# proto3 JSON forms of the well-known types (https://protobuf.dev/programming-guides/json/).
_WELL_KNOWN: dict[str, dict[str, Any]] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time", "example": "2026-12-07T09:30:00Z"},
    "google.protobuf.Duration": {
        "type": "string",
        "pattern": r"^-?[0-9]+(\.[0-9]{1,9})?s$",
        "example": "1.5s",
    },
    "google.protobuf.FieldMask": {
        "type": "string",
        "description": "Comma-separated field paths (lowerCamelCase or snake_case).",
    },
    "google.protobuf.Empty": {"type": "object"},
    "google.protobuf.Struct": {"type": "object", "additionalProperties": True},
    "google.protobuf.Value": {"description": "Any JSON value."},
    "google.protobuf.ListValue": {"type": "array", "items": {}},
    "google.protobuf.Any": {
        "type": "object",
        "properties": {"@type": {"type": "string"}},
        "additionalProperties": True,
    },
    "google.protobuf.StringValue": {"type": "string", "nullable": True},
    "google.protobuf.BytesValue": {"type": "string", "format": "byte", "nullable": True},
    "google.protobuf.BoolValue": {"type": "boolean", "nullable": True},
    "google.protobuf.Int32Value": {"type": "integer", "format": "int32", "nullable": True},
    "google.protobuf.UInt32Value": {"type": "integer", "format": "int64", "minimum": 0, "nullable": True},
    "google.protobuf.Int64Value": {"type": "string", "format": "int64", "nullable": True},
    "google.protobuf.UInt64Value": {"type": "string", "format": "uint64", "nullable": True},
    "google.protobuf.FloatValue": {"type": "number", "format": "float", "nullable": True},
    "google.protobuf.DoubleValue": {"type": "number", "format": "double", "nullable": True},
}

_ERROR_RESPONSES = {
    "400": "INVALID_ARGUMENT / FAILED_PRECONDITION / OUT_OF_RANGE: refused, nothing was written.",
    "401": "UNAUTHENTICATED: no valid bearer token.",
    "403": "PERMISSION_DENIED: the token's role or store scope does not allow this.",
    "404": "NOT_FOUND: the resource, or a resource the request refers to, does not exist for this tenant.",
    "409": "ALREADY_EXISTS / ABORTED: a conflicting resource or a concurrent change.",
    "429": "RESOURCE_EXHAUSTED: over a limit or the backend is shedding load; see `Retry-After`.",
    "503": "UNAVAILABLE: the backend is down or draining; retry later (`Retry-After`).",
    "504": "DEADLINE_EXCEEDED: the backend did not answer in time.",
}


Comments = Mapping[str, str]
"""Leading ``.proto`` comment by element: ``peony.x.v1.Msg``, ``peony.x.v1.Msg.field``,
``peony.x.v1.Enum.VALUE``, ``peony.x.v1.Service``, ``peony.x.v1.Service.Method``."""


def _singular(word: str) -> str:
    if word.endswith("ies") and len(word) > 3:
        return word[:-3] + "y"
    if word.endswith("sses"):
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _camel(word: str) -> str:
    head, *rest = word.replace("-", "_").split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _expand_variable(variable: Variable, used: set[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """Path pieces and ``(parameter name, description)`` for one template variable."""
    pieces: list[str] = []
    params: list[tuple[str, str]] = []
    previous = variable.field_path[-1]
    for segment in variable.segments:
        if segment in ("*", "**"):
            base = (
                _camel(_singular(previous)) + "Id"
                if previous != variable.field_path[-1]
                else _camel(previous)
            )
            name, n = base, 2
            while name in used:
                name, n = f"{base}{n}", n + 1
            used.add(name)
            what = "the rest of the path" if segment == "**" else "one path segment"
            params.append((name, f"Part of `{variable.dotted}` ({what})."))
            pieces.append("{" + name + "}")
        else:
            pieces.append(segment)
            previous = segment
    return pieces, params


def expanded_path(route: Route) -> tuple[str, list[tuple[str, str]]]:
    """The route's OpenAPI path (``/v1/members/{memberId}:replace``) and its path parameters."""
    pieces: list[str] = []
    params: list[tuple[str, str]] = []
    used: set[str] = set()
    for item in route.template.items:
        if isinstance(item, Variable):
            more, found = _expand_variable(item, used)
            pieces.extend(more)
            params.extend(found)
        else:
            pieces.append(item)
    path = "/" + "/".join(pieces)
    if route.template.verb:
        path += ":" + route.template.verb
    return path, params


class _Schemas:
    """components/schemas, filled on demand as messages and enums are referenced."""

    def __init__(self, comments: Comments):
        self.comments = comments
        self.schemas: dict[str, dict[str, Any]] = {}

    def ref(self, name: str) -> dict[str, Any]:
        return {"$ref": f"#/components/schemas/{name}"}

    def message(self, descriptor: _d.Descriptor) -> dict[str, Any]:
        if descriptor.full_name in _WELL_KNOWN:
            return dict(_WELL_KNOWN[descriptor.full_name])
        name = descriptor.full_name
        if name not in self.schemas:
            self.schemas[name] = {}  # placeholder first: messages may be recursive
            bounds = limits.field_limits(descriptor)
            properties = {}
            for field in descriptor.fields:
                schema = self.field(field, bounds.get(field.name))
                text = self.comments.get(f"{name}.{field.name}")
                if field.containing_oneof is not None and not field.containing_oneof.name.startswith("_"):
                    note = f"One of `{field.containing_oneof.name}`."
                    text = f"{text}\n\n{note}" if text else note
                if text:
                    schema = _described(schema, text)
                properties[field.json_name] = schema
            body: dict[str, Any] = {"type": "object", "properties": properties}
            if self.comments.get(name):
                body["description"] = self.comments[name]
            self.schemas[name] = body
        return self.ref(name)

    def enum(self, descriptor: _d.EnumDescriptor) -> dict[str, Any]:
        name = descriptor.full_name
        if name not in self.schemas:
            lines = [
                f"- `{v.name}`: {self.comments[f'{name}.{v.name}']}"
                for v in descriptor.values
                if self.comments.get(f"{name}.{v.name}")
            ]
            text = "\n".join(filter(None, [self.comments.get(name, ""), "\n".join(lines)]))
            body: dict[str, Any] = {"type": "string", "enum": [v.name for v in descriptor.values]}
            if text:
                body["description"] = text
            self.schemas[name] = body
        return self.ref(name)

    def scalar(self, field: _d.FieldDescriptor, max_length: int | None) -> dict[str, Any]:
        t = field.type
        if t == _F.TYPE_MESSAGE:
            return self.message(field.message_type)
        if t == _F.TYPE_ENUM:
            return self.enum(field.enum_type)
        if t == _F.TYPE_STRING:
            out: dict[str, Any] = {"type": "string"}
            if max_length is not None:
                out["maxLength"] = max_length
            return out
        if t == _F.TYPE_BYTES:
            return {"type": "string", "format": "byte"}
        if t == _F.TYPE_BOOL:
            return {"type": "boolean"}
        if t in _INT32:
            return {"type": "integer", "format": "int32"}
        if t in _UINT32:
            return {"type": "integer", "format": "int64", "minimum": 0, "maximum": 4294967295}
        if t in _INT64:
            return {"type": "string", "format": "int64"}
        if t in _UINT64:
            return {"type": "string", "format": "uint64"}
        if t == _F.TYPE_FLOAT:
            return {"type": "number", "format": "float"}
        return {"type": "number", "format": "double"}

    def field(self, field: _d.FieldDescriptor, bound: limits.FieldLimit | None) -> dict[str, Any]:
        max_length = bound.max_length if bound else None
        if field.type == _F.TYPE_MESSAGE and field.message_type.GetOptions().map_entry:
            value = field.message_type.fields_by_name["value"]
            out: dict[str, Any] = {"type": "object", "additionalProperties": self.scalar(value, max_length)}
            if bound and bound.max_items is not None:
                out["maxProperties"] = bound.max_items
            return out
        if field.is_repeated:
            out = {"type": "array", "items": self.scalar(field, max_length)}
            if bound and bound.max_items is not None:
                out["maxItems"] = bound.max_items
            return out
        return self.scalar(field, max_length)


def _first_sentence(text: str) -> str:
    paragraph = " ".join(text.split("\n\n", 1)[0].split())
    end = paragraph.find(". ")
    return (paragraph if end < 0 else paragraph[: end + 1]).rstrip(".")


def _described(schema: dict[str, Any], text: str) -> dict[str, Any]:
    if "$ref" in schema:  # OpenAPI 3.0 ignores siblings of $ref: wrap it
        return {"allOf": [schema], "description": text}
    return {**schema, "description": text}


def _query_parameters(
    message: _d.Descriptor, schemas: _Schemas, bound: set[str], prefix: str = "", depth: int = 0
) -> list[dict[str, Any]]:
    """Query parameters for the fields of ``message`` not taken by the path or the body: scalars
    and repeated scalars by their JSON name, nested (non well-known) messages as dotted keys."""
    out: list[dict[str, Any]] = []
    field_limits = limits.field_limits(message)
    for field in message.fields:
        key = prefix + field.json_name
        proto_key = prefix + field.name
        if proto_key in bound or key in bound:
            continue
        is_message = field.type == _F.TYPE_MESSAGE
        if is_message and field.message_type.GetOptions().map_entry:
            continue  # maps cannot be set from a query string
        if is_message and field.message_type.full_name not in _WELL_KNOWN:
            if field.is_repeated or depth >= 3:
                continue
            out.extend(_query_parameters(field.message_type, schemas, bound, key + ".", depth + 1))
            continue
        schema = schemas.field(field, field_limits.get(field.name))
        param: dict[str, Any] = {"name": key, "in": "query", "required": False, "schema": schema}
        if field.is_repeated:
            param["style"] = "form"
            param["explode"] = True
        text = schemas.comments.get(f"{message.full_name}.{field.name}")
        if text:
            param["description"] = text
        out.append(param)
    return out


def _operation(route: Route, schemas: _Schemas, operation_ids: set[str]) -> tuple[str, dict[str, Any]]:
    method = route.method
    service = method.containing_service
    path, path_params = expanded_path(route)
    base = f"{service.name}_{method.name}"
    operation_id, n = base, 2
    while operation_id in operation_ids:
        operation_id, n = f"{base}_{n}", n + 1
    operation_ids.add(operation_id)
    text = schemas.comments.get(method.full_name, "").strip()
    op: dict[str, Any] = {
        "operationId": operation_id,
        "tags": [service.name],
        "x-grpc-method": route.grpc_path,
        "summary": _first_sentence(text) or method.name,
    }
    if text:
        op["description"] = text
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}, "description": what}
        for name, what in path_params
    ]
    bound = {v.variable.dotted for v in route.variables}
    request = method.input_type
    if route.body == "*":
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": schemas.message(request)}},
        }
    else:
        if route.body:
            body_field = request.fields_by_name[route.body]
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": schemas.field(body_field, None)}},
            }
            bound.add(route.body)
        parameters.extend(_query_parameters(request, schemas, bound))
    parameters.append(
        {
            "name": "X-Request-Id",
            "in": "header",
            "required": False,
            "schema": {"type": "string", "maxLength": 128},
            "description": "Echoed back; correlates logs. Idempotency is the body's `requestId`.",
        }
    )
    op["parameters"] = parameters
    if route.response_body:
        response_schema = schemas.field(method.output_type.fields_by_name[route.response_body], None)
    else:
        response_schema = schemas.message(method.output_type)
    responses: dict[str, Any] = {
        "200": {"description": "OK", "content": {"application/json": {"schema": response_schema}}}
    }
    for status in _ERROR_RESPONSES:
        responses[status] = {"$ref": f"#/components/responses/Error{status}"}
    responses["default"] = {"$ref": "#/components/responses/Error"}
    op["responses"] = responses
    return path, op


def _error_components() -> tuple[dict[str, Any], dict[str, Any]]:
    schema = {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "status", "message"],
                "properties": {
                    "code": {"type": "integer", "description": "The HTTP status."},
                    "status": {"type": "string", "description": "The gRPC status name, e.g. `NOT_FOUND`."},
                    "message": {"type": "string"},
                    "details": {
                        "type": "array",
                        "description": "`google.rpc` details in proto3 JSON: `ErrorInfo` (reason, metadata), "
                        "`BadRequest` (fieldViolations), `RetryInfo`, ...",
                        "items": {
                            "type": "object",
                            "properties": {"@type": {"type": "string"}},
                            "additionalProperties": True,
                        },
                    },
                },
            }
        },
        "description": "Every non-2xx answer: the `google.rpc.Status` of the backend, in JSON.",
    }
    content = {"application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}}}
    retry_after = {
        "Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}
    }
    responses: dict[str, Any] = {"Error": {"description": "An error.", "content": content}}
    for status, text in _ERROR_RESPONSES.items():
        response: dict[str, Any] = {"description": text, "content": content}
        if status in ("429", "503"):
            response["headers"] = retry_after
        responses[f"Error{status}"] = response
    return schema, responses


def build_document(routes: Iterable[Route], comments: Comments, *, version: str) -> dict[str, Any]:
    """The OpenAPI document for ``routes``."""
    schemas = _Schemas(comments)
    paths: dict[str, dict[str, Any]] = {}
    operation_ids: set[str] = set()
    tags: dict[str, str] = {}
    ordered = sorted(routes, key=lambda r: (r.template.source, r.http_method, r.grpc_path))
    for route in ordered:
        path, op = _operation(route, schemas, operation_ids)
        paths.setdefault(path, {})[route.http_method.lower()] = op
        service = route.method.containing_service
        tags.setdefault(service.name, comments.get(service.full_name, "").strip())
    error_schema, error_responses = _error_components()
    components_schemas = dict(sorted(schemas.schemas.items()))
    components_schemas[ERROR_SCHEMA] = error_schema
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Peony REST API",
            "version": version,
            "description": (
                "The REST/JSON face of Peony's gRPC services, served by the gateway and generated from "
                "the protos' `google.api.http` annotations. JSON uses proto3 names (lowerCamelCase); "
                "64-bit integers (money in minor units) are strings. Every mutation is idempotent by "
                "its `requestId`. Authenticate with `Authorization: Bearer <JWT>`."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}],
        "tags": [
            {"name": name, **({"description": text} if text else {})} for name, text in sorted(tags.items())
        ],
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "schemas": components_schemas,
            "responses": error_responses,
        },
    }


def render(document: Mapping[str, Any]) -> str:
    """The committed form: stable key order from the builder, two-space indent, UTF-8."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def load_document() -> bytes:
    """The committed document's bytes (what ``/openapi.json`` serves)."""
    return DOCUMENT_PATH.read_bytes()


# -- serving -------------------------------------------------------------------------------------

DOCS_ASSETS_PREFIX = "/docs/assets"

_DOCS_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Peony REST API</title>
<link rel="stylesheet" href="{assets}/swagger-ui.css">
<link rel="icon" type="image/png" href="{assets}/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({{
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  persistAuthorization: false,
}});
</script>
</body>
</html>
"""


def swagger_ui_dir() -> Path:
    """Swagger UI's files, shipped inside the `swagger-ui-bundle` wheel (no CDN at run time)."""
    import swagger_ui_bundle

    return Path(str(swagger_ui_bundle.swagger_ui_path))


def add_routes(app: Any) -> None:
    """``GET /openapi.json`` (the committed document) and ``GET /docs`` (Swagger UI over it).

    Both are public: they describe the contract, not any tenant's data. The document is read once.
    """
    from aiohttp import web

    document = load_document()
    page = _DOCS_PAGE.format(assets=DOCS_ASSETS_PREFIX).encode()

    async def openapi_json(_request: web.Request) -> web.Response:
        return web.Response(body=document, content_type="application/json", charset="utf-8")

    async def docs(_request: web.Request) -> web.Response:
        return web.Response(body=page, content_type="text/html", charset="utf-8")

    app.router.add_get("/openapi.json", openapi_json, allow_head=False)
    app.router.add_get("/docs", docs, allow_head=False)
    app.router.add_static(DOCS_ASSETS_PREFIX, swagger_ui_dir(), show_index=False, follow_symlinks=False)
