"""gateway/openapi.json: a valid OpenAPI 3 document, fresh, and listing exactly the gateway's routes."""

from __future__ import annotations

import json
import re

import pytest
from openapi_spec_validator import validate

from gateway.openapi import DOCUMENT_PATH, expanded_path
from gateway.routing import compile_routes
from tests.unit.gateway.realroutes import available_services
from tools import gen_openapi

ROUTER = compile_routes(available_services())


@pytest.fixture(scope="module")
def document() -> dict:
    return json.loads(DOCUMENT_PATH.read_text(encoding="utf-8"))


def test_the_document_is_valid_openapi(document):
    validate(document)
    assert document["openapi"].startswith("3.0")


def test_the_committed_document_is_what_the_protos_generate():
    assert DOCUMENT_PATH.read_text(encoding="utf-8") == gen_openapi.render(), (
        "gateway/openapi.json is stale: run `make gen`"
    )


def test_every_gateway_route_is_in_the_document_and_nothing_else(document):
    documented = {
        (method.upper(), path): op["x-grpc-method"]
        for path, item in document["paths"].items()
        for method, op in item.items()
    }
    served = {}
    for route in ROUTER.routes:
        path, _ = expanded_path(route)
        served[(route.http_method, path)] = route.grpc_path
    assert documented == served
    assert len(served) == len(ROUTER.routes)  # no two routes collapse onto one documented operation


def test_a_documented_path_filled_in_reaches_its_own_rpc(document):
    for path, item in document["paths"].items():
        concrete = re.sub(r"\{[^}]+\}", "x1", path)
        for method, op in item.items():
            found = ROUTER.match(method.upper(), concrete)
            assert found is not None, (method, path, concrete)
            assert found.route.grpc_path == op["x-grpc-method"], (method, path)


def test_schemas_say_what_the_gateway_does_with_json(document):
    schemas = document["components"]["schemas"]
    top_up = schemas["peony.wallet.v1.TopUpRequest"]["properties"]
    # proto3 JSON: lowerCamelCase names; int64 money as strings; enums by name; limits from kit.limits
    assert "requestId" in top_up and "request_id" not in top_up
    int64_fields = [
        p for s in schemas.values() for p in s.get("properties", {}).values() if p.get("format") == "int64"
    ]
    assert int64_fields and all(p["type"] == "string" for p in int64_fields)
    assert top_up["requestId"]["maxLength"] > 0
    enums = [s for s in schemas.values() if "enum" in s]
    assert enums and all(s["type"] == "string" for s in enums)
    timestamps = [
        p
        for s in schemas.values()
        for p in s.get("properties", {}).values()
        if p.get("format") == "date-time"
    ]
    assert timestamps


def test_descriptions_come_from_the_proto_comments(document):
    op = document["paths"]["/v1/members"]["get"]
    assert op["operationId"] == "MembersService_ListMembers"
    assert op["summary"].startswith("Lists members")
    assert "masked" in op["description"]


def test_errors_have_the_gateway_error_shape_and_retry_after_on_shedding(document):
    responses = document["components"]["responses"]
    assert responses["Error404"]["content"]["application/json"]["schema"]["$ref"].endswith("/Error")
    assert "Retry-After" in responses["Error429"]["headers"]
    assert "Retry-After" in responses["Error503"]["headers"]
    error = document["components"]["schemas"]["Error"]["properties"]["error"]
    assert set(error["required"]) == {"code", "status", "message"}
