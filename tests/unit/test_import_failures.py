"""How the ImportService's worker sorts an attempt's failure: a wallet refusal ends the operation at
once, an unreachable wallet or database is retried, and no message quotes the exception's text
(it may hold a row's personal data)."""

from __future__ import annotations

import grpc
import pytest
from sqlalchemy.exc import OperationalError

from services.members.service_layer.imports import classify_failure, retry_backoff


class _RpcError(grpc.aio.AioRpcError):
    def __init__(self, code: grpc.StatusCode):
        super().__init__(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details="13800000001 王小明")


@pytest.mark.parametrize(
    ("exc", "reason", "permanent"),
    [
        (_RpcError(grpc.StatusCode.FAILED_PRECONDITION), "WALLET_REFUSED", True),
        (_RpcError(grpc.StatusCode.INVALID_ARGUMENT), "WALLET_REFUSED", True),
        (_RpcError(grpc.StatusCode.UNAVAILABLE), "WALLET_UNAVAILABLE", False),
        (_RpcError(grpc.StatusCode.INTERNAL), "WALLET_FAILED", False),
        (OperationalError("SELECT", {}, Exception("13800000001")), "DATABASE_UNAVAILABLE", False),
        (ConnectionRefusedError("13800000001"), "DATABASE_UNAVAILABLE", False),
        (KeyError("13800000001"), "INTERNAL_ERROR", False),
    ],
)
def test_failures_are_sorted_and_name_no_personal_data(exc, reason, permanent):
    got_reason, message, got_permanent = classify_failure(exc)
    assert (got_reason, got_permanent) == (reason, permanent)
    assert "13800000001" not in message and "王小明" not in message


def test_the_backoff_doubles_and_is_capped():
    assert [retry_backoff(10, n).total_seconds() for n in (1, 2, 3)] == [10, 20, 40]
    assert retry_backoff(10, 50).total_seconds() == 600
