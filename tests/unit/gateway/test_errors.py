from __future__ import annotations

import grpc
import pytest
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

from gateway.errors import GatewayError, grpc_code_to_http, rpc_error_to_http, status_to_http


@pytest.mark.parametrize(
    ("code", "http"),
    [
        (grpc.StatusCode.INVALID_ARGUMENT, 400),
        (grpc.StatusCode.FAILED_PRECONDITION, 400),
        (grpc.StatusCode.OUT_OF_RANGE, 400),
        (grpc.StatusCode.UNAUTHENTICATED, 401),
        (grpc.StatusCode.PERMISSION_DENIED, 403),
        (grpc.StatusCode.NOT_FOUND, 404),
        (grpc.StatusCode.ALREADY_EXISTS, 409),
        (grpc.StatusCode.ABORTED, 409),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, 429),
        (grpc.StatusCode.CANCELLED, 499),
        (grpc.StatusCode.UNIMPLEMENTED, 501),
        (grpc.StatusCode.UNAVAILABLE, 503),
        (grpc.StatusCode.DEADLINE_EXCEEDED, 504),
        (grpc.StatusCode.INTERNAL, 500),
        (grpc.StatusCode.UNKNOWN, 500),
        (grpc.StatusCode.DATA_LOSS, 500),
    ],
)
def test_code_mapping(code, http):
    assert grpc_code_to_http(code) == http


def _pack(msg) -> any_pb2.Any:
    a = any_pb2.Any()
    a.Pack(msg)
    return a


def _rich_status(code=code_pb2.FAILED_PRECONDITION, message="card already lost") -> status_pb2.Status:
    return status_pb2.Status(
        code=code,
        message=message,
        details=[
            _pack(
                error_details_pb2.ErrorInfo(reason="CARD_LOST", domain="peony.dev", metadata={"card": "c1"})
            ),
            _pack(
                error_details_pb2.BadRequest(
                    field_violations=[
                        error_details_pb2.BadRequest.FieldViolation(
                            field="card_id", description="already lost"
                        )
                    ]
                )
            ),
        ],
    )


def _aio_error(code, details="", trailers=()) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(*trailers), details=details)


def test_status_with_details_to_json():
    http, body = status_to_http(_rich_status())
    assert http == 400
    assert body == {
        "error": {
            "code": 400,
            "status": "FAILED_PRECONDITION",
            "message": "card already lost",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "CARD_LOST",
                    "domain": "peony.dev",
                    "metadata": {"card": "c1"},
                },
                {
                    "@type": "type.googleapis.com/google.rpc.BadRequest",
                    "fieldViolations": [{"field": "card_id", "description": "already lost"}],
                },
            ],
        }
    }


def test_unknown_detail_type_is_kept_opaque():
    status = status_pb2.Status(
        code=code_pb2.NOT_FOUND,
        message="gone",
        details=[any_pb2.Any(type_url="type.googleapis.com/acme.Unknown", value=b"\x08\x01")],
    )
    http, body = status_to_http(status)
    assert http == 404
    assert body["error"]["details"] == [{"@type": "type.googleapis.com/acme.Unknown", "value": "CAE="}]


def test_rpc_error_decodes_status_details_trailer():
    trailer = ("grpc-status-details-bin", _rich_status().SerializeToString())
    err = _aio_error(grpc.StatusCode.FAILED_PRECONDITION, "card already lost", [trailer])
    http, body = rpc_error_to_http(err, backend="members")
    assert http == 400
    assert body["error"]["details"][0]["reason"] == "CARD_LOST"
    assert body["error"]["details"][1]["fieldViolations"][0]["field"] == "card_id"


def test_rpc_error_without_details():
    http, body = rpc_error_to_http(
        _aio_error(grpc.StatusCode.NOT_FOUND, "member not found"), backend="members"
    )
    assert (http, body["error"]["status"], body["error"]["message"]) == (404, "NOT_FOUND", "member not found")
    assert body["error"]["details"] == []


def test_trailer_with_mismatching_code_is_ignored():
    trailer = ("grpc-status-details-bin", _rich_status(code=code_pb2.NOT_FOUND).SerializeToString())
    http, body = rpc_error_to_http(_aio_error(grpc.StatusCode.ABORTED, "retry", [trailer]), backend="members")
    assert (http, body["error"]["status"], body["error"]["details"]) == (409, "ABORTED", [])


def test_garbage_trailer_is_ignored():
    trailer = ("grpc-status-details-bin", b"\xff\xff\xff")
    http, _ = rpc_error_to_http(_aio_error(grpc.StatusCode.ABORTED, "retry", [trailer]), backend="members")
    assert http == 409


@pytest.mark.parametrize(
    "code", [grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DATA_LOSS]
)
def test_server_faults_are_opaque(code):
    err = _aio_error(
        code, "Unexpected <class 'KeyError'>: Traceback (most recent call last): File \"/srv/x.py\""
    )
    http, body = rpc_error_to_http(err, backend="members")
    assert http == 500
    assert body["error"]["message"] == "internal error"
    assert "Traceback" not in str(body)


def test_unavailable_does_not_leak_addresses():
    err = _aio_error(grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses; ipv4:10.1.2.3:50051")
    http, body = rpc_error_to_http(err, backend="members")
    assert http == 503
    assert "10.1.2.3" not in str(body)
    assert body["error"]["details"][0]["reason"] == "BACKEND_UNAVAILABLE"
    assert body["error"]["details"][0]["metadata"] == {"service": "members"}


def test_deadline_exceeded():
    http, body = rpc_error_to_http(
        _aio_error(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded"), backend="x"
    )
    assert (http, body["error"]["status"]) == (504, "DEADLINE_EXCEEDED")


def test_gateway_error_body_shape():
    err = GatewayError.bad_request([("pageSize", "expected an integer"), ("body", "malformed JSON")])
    body = err.body()
    assert body["error"]["code"] == 400
    assert body["error"]["status"] == "INVALID_ARGUMENT"
    assert body["error"]["message"] == "pageSize: expected an integer; body: malformed JSON"
    info, bad = body["error"]["details"]
    assert info["@type"] == "type.googleapis.com/google.rpc.ErrorInfo"
    assert info["reason"] == "INVALID_ARGUMENT"
    assert bad == {
        "@type": "type.googleapis.com/google.rpc.BadRequest",
        "fieldViolations": [
            {"field": "pageSize", "description": "expected an integer"},
            {"field": "body", "description": "malformed JSON"},
        ],
    }
    status = err.to_status()
    assert status.code == code_pb2.INVALID_ARGUMENT


def test_gateway_error_without_violations_has_only_error_info():
    err = GatewayError(404, grpc.StatusCode.NOT_FOUND, "no route", reason="NO_ROUTE")
    details = err.body()["error"]["details"]
    assert [d["@type"].rsplit("/", 1)[1] for d in details] == ["google.rpc.ErrorInfo"]
    assert details[0]["reason"] == "NO_ROUTE"
