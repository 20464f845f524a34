"""The gateway's backend calls are throttled on the client side (kit/throttle.py, issue 16): once
a backend sheds most calls, the gateway refuses most of the next ones itself, unsent, and its
caller cannot tell the difference: 429 RESOURCE_EXHAUSTED, reason OVERLOADED, a RetryInfo and a
Retry-After header, as for a call the backend shed. A healthy backend is never throttled.

Real gateway app (aiohttp test server) in front of the real grpc.aio test backend of conftest.py;
the backend counts the calls that reach it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.app import build_app
from kit import throttle as kit_throttle
from kit.throttle import ThrottleSettings
from tests.integration.gateway.conftest import gateway_config


@pytest.fixture(autouse=True)
def fresh_throttles():
    """Throttles are per process and per target: this module's start (and leave) with none."""
    kit_throttle.configure(ThrottleSettings(k=2.0, window_s=600))
    yield
    kit_throttle.reset()


@contextlib.asynccontextmanager
async def gateway_client(proto, members_backend, notify_backend) -> AsyncIterator[TestClient]:
    config = gateway_config(members_backend.addr, notify_backend.addr)
    app = build_app(config, services=[(proto.members, "members"), (proto.ping, "notify")])
    async with TestClient(TestServer(app)) as client:
        yield client


def _calls(backend, name: str) -> int:
    return sum(1 for call, *_ in backend.recorder.calls if call == name)


def _reason(err: dict) -> str | None:
    for detail in err["details"]:
        if detail["@type"].endswith("google.rpc.ErrorInfo"):
            return detail["reason"]
    return None


async def test_a_backend_that_sheds_most_calls_gets_them_refused_at_the_gateway(
    proto, members_backend, notify_backend
):
    async with gateway_client(proto, members_backend, notify_backend) as client:
        before = _calls(members_backend, "Fail")
        shed = {"code": "RESOURCE_EXHAUSTED", "message": "server overloaded", "retryDelayMs": 2300}
        statuses, retry_afters, local = [], [], 0
        for _ in range(150):
            resp = await client.post("/v1/members/m1:fail", json=shed)
            body = await resp.json()
            statuses.append(resp.status)
            retry_afters.append(resp.headers.get("Retry-After"))
            err = body["error"]
            assert err["status"] == "RESOURCE_EXHAUSTED", body
            assert any(d["@type"].endswith("google.rpc.RetryInfo") for d in err["details"]), body
            if (
                resp.headers["Retry-After"] == "1"
            ):  # the throttle's RetryInfo (100-500 ms), not the backend's 2.3 s
                local += 1
                assert _reason(err) == "OVERLOADED"
                assert err["message"] == "the server is overloaded; retry after the RetryInfo delay"

        assert set(statuses) == {429}
        assert set(retry_afters) <= {"1", "3"}
        # Most calls never reached the backend: refused by the gateway's throttle.
        assert local >= 100
        assert _calls(members_backend, "Fail") - before == 150 - local


async def test_a_healthy_backend_is_never_throttled_at_the_gateway(proto, members_backend, notify_backend):
    async with gateway_client(proto, members_backend, notify_backend) as client:
        before = _calls(members_backend, "GetMember")
        for _ in range(150):
            resp = await client.get("/v1/members/m1")
            assert resp.status == 200
        assert _calls(members_backend, "GetMember") - before == 150
        assert kit_throttle.throttle_for(members_backend.addr).refused_locally == 0
