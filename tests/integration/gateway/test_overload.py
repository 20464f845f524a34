"""Overload behaviour of the gateway (issue 16): deadlines per route class, backends that shed load
(429/503 with Retry-After), bounded retries of UNAVAILABLE.

Each test builds its own gateway app (its own channels, so its own gRPC retry budget) in front of
the real grpc.aio test backend of conftest.py.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator

from aiohttp.test_utils import TestClient, TestServer

from gateway.app import build_app
from tests.integration.gateway.conftest import gateway_config


@contextlib.asynccontextmanager
async def gateway_client(proto, members_backend, notify_backend, **env: str) -> AsyncIterator[TestClient]:
    config = gateway_config(members_backend.addr, notify_backend.addr, **env)
    app = build_app(config, services=[(proto.members, "members"), (proto.ping, "notify")])
    async with TestClient(TestServer(app)) as client:
        yield client


# The deadline travels as a grpc-timeout header with a few digits of precision, rounded up.
SLACK = 0.05


def _error(body: dict, http: int, status: str) -> dict:
    err = body["error"]
    assert (err["code"], err["status"]) == (http, status), body
    return err


def _reason(err: dict) -> str | None:
    for detail in err["details"]:
        if detail["@type"].endswith("google.rpc.ErrorInfo"):
            return detail["reason"]
    return None


def _fail_calls(backend) -> int:
    return sum(1 for name, *_ in backend.recorder.calls if name == "Fail")


# -- deadlines per route class ---------------------------------------------------------------------


async def test_deadline_per_route_class(proto, members_backend, notify_backend):
    """GETs get the read deadline, other methods the write deadline; the header only shortens."""
    env = {"PEONY_GATEWAY_READ_TIMEOUT_SECONDS": "3", "PEONY_GATEWAY_WRITE_TIMEOUT_SECONDS": "7"}
    async with gateway_client(proto, members_backend, notify_backend, **env) as client:
        rec = members_backend.recorder

        resp = await client.get("/v1/members/m1")
        assert resp.status == 200
        assert 2.0 < rec.remaining[-1] <= 3.0 + SLACK

        resp = await client.post("/v1/members", json={"displayName": "Ann"})
        assert resp.status == 200
        assert 6.0 < rec.remaining[-1] <= 7.0 + SLACK

        # A client may ask for less than its route class allows, never for more.
        resp = await client.get("/v1/members/m1", headers={"X-Request-Timeout": "1.5"})
        assert resp.status == 200
        assert 0.5 < rec.remaining[-1] <= 1.5 + SLACK
        resp = await client.post(
            "/v1/members", json={"displayName": "Ann"}, headers={"X-Request-Timeout": "60"}
        )
        assert resp.status == 200
        assert 6.0 < rec.remaining[-1] <= 7.0 + SLACK


async def test_long_rpcs_get_the_long_deadline(proto, members_backend, notify_backend):
    env = {
        "PEONY_GATEWAY_READ_TIMEOUT_SECONDS": "3",
        "PEONY_GATEWAY_LONG_TIMEOUT_SECONDS": "40",
        "PEONY_GATEWAY_LONG_RPCS": "gwtest.v1.MemberTestService/ListMembers",
    }
    async with gateway_client(proto, members_backend, notify_backend, **env) as client:
        resp = await client.get("/v1/members")
        assert resp.status == 200
        # the long class (40 s), not the read class (3 s); a CI run saw 40.098 s left at the
        # backend: the grpc-timeout header's encoding may round the budget up
        assert 35.0 < members_backend.recorder.remaining[-1] <= 40.0 + 0.5


async def test_route_deadline_expiry_is_504(proto, members_backend, notify_backend):
    env = {"PEONY_GATEWAY_READ_TIMEOUT_SECONDS": "0.3"}
    async with gateway_client(proto, members_backend, notify_backend, **env) as client:
        started = time.monotonic()
        # The header asks for more than the route class allows: the class's 0.3 s still applies.
        resp = await client.get("/v1/slow", params={"sleepMs": "3000"}, headers={"X-Request-Timeout": "10"})
        elapsed = time.monotonic() - started
        assert resp.status == 504
        err = _error(await resp.json(), 504, "DEADLINE_EXCEEDED")
        assert err["message"] == "the members service did not answer in time"
        assert elapsed < 2.5
        assert "Retry-After" not in resp.headers


# -- backends that shed load --------------------------------------------------------------------------


async def test_shed_call_with_retry_info_is_429_with_its_delay(proto, members_backend, notify_backend):
    async with gateway_client(proto, members_backend, notify_backend) as client:
        before = _fail_calls(members_backend)
        resp = await client.post(
            "/v1/members/m1:fail",
            json={"code": "RESOURCE_EXHAUSTED", "message": "server overloaded", "retryDelayMs": 2300},
        )
        assert resp.status == 429
        assert resp.headers["Retry-After"] == "3"  # 2.3 s rounded up to whole seconds
        err = _error(await resp.json(), 429, "RESOURCE_EXHAUSTED")
        assert err["message"] == "server overloaded"
        assert any(d["@type"].endswith("google.rpc.RetryInfo") for d in err["details"])
        # RESOURCE_EXHAUSTED is never retried by the gateway: the backend saw the call once.
        assert _fail_calls(members_backend) == before + 1


async def test_shed_call_delay_is_at_least_one_second(proto, members_backend, notify_backend):
    async with gateway_client(proto, members_backend, notify_backend) as client:
        resp = await client.post(
            "/v1/members/m1:fail", json={"code": "RESOURCE_EXHAUSTED", "message": "busy", "retryDelayMs": 40}
        )
        assert resp.status == 429
        assert resp.headers["Retry-After"] == "1"


async def test_shed_call_without_retry_info_gets_the_default(proto, members_backend, notify_backend):
    env = {"PEONY_GATEWAY_RETRY_AFTER_SECONDS": "4"}
    async with gateway_client(proto, members_backend, notify_backend, **env) as client:
        resp = await client.post(
            "/v1/members/m1:fail", json={"code": "RESOURCE_EXHAUSTED", "message": "quota"}
        )
        assert resp.status == 429
        assert resp.headers["Retry-After"] == "4"
        # Errors that are not "come back later" carry no Retry-After.
        resp = await client.post("/v1/members/m1:fail", json={"code": "FAILED_PRECONDITION", "message": "no"})
        assert resp.status == 400
        assert "Retry-After" not in resp.headers


async def test_unavailable_is_retried_a_bounded_number_of_times_then_503(
    proto, members_backend, notify_backend
):
    async with gateway_client(proto, members_backend, notify_backend) as client:
        before = _fail_calls(members_backend)
        resp = await client.post("/v1/members/m1:fail", json={"code": "UNAVAILABLE", "message": "draining"})
        assert resp.status == 503
        assert resp.headers["Retry-After"] == "1"
        _error(await resp.json(), 503, "UNAVAILABLE")
        assert _fail_calls(members_backend) == before + 3  # maxAttempts

        # The retry budget (retryThrottling: 10 tokens, retries only above 5) then stops retrying:
        # five more failing requests cost the backend far fewer than 5 x 3 attempts.
        before = _fail_calls(members_backend)
        for _ in range(5):
            resp = await client.post(
                "/v1/members/m1:fail", json={"code": "UNAVAILABLE", "message": "draining"}
            )
            assert resp.status == 503
            assert resp.headers["Retry-After"] == "1"
        assert _fail_calls(members_backend) - before <= 7


async def test_backend_down_is_503_with_retry_after(proto, members_backend, notify_backend):
    from tests.integration.gateway.conftest import free_port

    config = gateway_config(f"127.0.0.1:{free_port()}", notify_backend.addr)
    app = build_app(config, services=[(proto.members, "members"), (proto.ping, "notify")])
    async with TestClient(TestServer(app)) as client:
        resp = await client.get("/v1/members/m1")
        assert resp.status == 503
        assert resp.headers["Retry-After"] == "1"
        err = _error(await resp.json(), 503, "UNAVAILABLE")
        assert _reason(err) == "BACKEND_UNAVAILABLE"


async def test_backend_deadline_exceeded_is_504_in_the_error_shape(proto, members_backend, notify_backend):
    """A backend whose own deadline ran out (e.g. on its call to another service) answers
    DEADLINE_EXCEEDED: the caller gets 504 in the gateway's JSON shape, without Retry-After."""
    async with gateway_client(proto, members_backend, notify_backend) as client:
        before = _fail_calls(members_backend)
        resp = await client.post(
            "/v1/members/m1:fail", json={"code": "DEADLINE_EXCEEDED", "message": "too slow"}
        )
        assert resp.status == 504
        _error(await resp.json(), 504, "DEADLINE_EXCEEDED")
        assert "Retry-After" not in resp.headers
        assert _fail_calls(members_backend) == before + 1  # not retried
