"""Per-tenant, per-token and anonymous rate limits of the gateway, and a real route whose backend sheds.

The backend is a real grpc.aio server registered as ``peony.members.v1.MembersService`` (the real
generated descriptor and routes), counting the calls that reach it by the caller's bearer token, so
a test can prove that a refused request never reached it. Tokens are real HS256 JWTs checked with
the services' verifier (the development secret of ``PEONY_ENV=test``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator

import grpc
import pytest
from aiohttp.test_utils import TestClient, TestServer
from google.protobuf import any_pb2, message_factory
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from gateway.app import build_app
from gateway.services import find_service
from kit.auth import mint_dev_token
from kit.errors import ERROR_DOMAIN
from tests.integration.gateway.conftest import gateway_config

MEMBERS = find_service("peony.members.v1.MembersService")
SHED_MEMBER = "members/shed"


def _token(tenant: str, subject: str = "user:desk", *, secret: str | None = None) -> str:
    return mint_dev_token(tenant=tenant, subject=subject, roles=["front_desk"], stores=["s1"], secret=secret)


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _pack(message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


@pytest.fixture(scope="module")
async def members_service():
    """``(addr, calls)``: GetMember answers an empty member, or sheds for ``members/shed`` the way
    an overloaded Peony server does (RESOURCE_EXHAUSTED + RetryInfo + ErrorInfo OVERLOADED)."""
    calls: Counter[str] = Counter()  # authorization header (or "") -> calls that reached the backend
    method = MEMBERS.methods_by_name["GetMember"]
    request_cls = message_factory.GetMessageClass(method.input_type)
    response_cls = message_factory.GetMessageClass(method.output_type)

    async def get_member(request, context):
        calls[dict(context.invocation_metadata()).get("authorization", "")] += 1
        if request.name == SHED_MEMBER:
            retry = error_details_pb2.RetryInfo()
            retry.retry_delay.FromMilliseconds(1500)
            status = status_pb2.Status(
                code=grpc.StatusCode.RESOURCE_EXHAUSTED.value[0],
                message="server overloaded, retry later",
                details=[
                    _pack(retry),
                    _pack(error_details_pb2.ErrorInfo(reason="OVERLOADED", domain=ERROR_DOMAIN)),
                ],
            )
            await context.abort_with_status(rpc_status.to_status(status))
        return response_cls()

    handler = grpc.unary_unary_rpc_method_handler(
        get_member,
        request_deserializer=request_cls.FromString,
        response_serializer=response_cls.SerializeToString,
    )
    server = grpc.aio.server()
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(MEMBERS.full_name, {"GetMember": handler}),)
    )
    checker = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(checker, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    await checker.set("", health_pb2.HealthCheckResponse.SERVING)
    yield f"127.0.0.1:{port}", calls
    await server.stop(None)


@contextlib.asynccontextmanager
async def gateway(members_service, **env: str) -> AsyncIterator[TestClient]:
    addr, _ = members_service
    app = build_app(gateway_config(addr, addr, **env), services=[(MEMBERS, "members")])
    async with TestClient(TestServer(app)) as client:
        yield client


def _rate_limited(body: dict) -> str:
    """The limit a 429 RATE_LIMITED names (and the error has the gateway's JSON shape)."""
    err = body["error"]
    assert (err["code"], err["status"]) == (429, "RESOURCE_EXHAUSTED"), body
    (info,) = [d for d in err["details"] if d["@type"].endswith("google.rpc.ErrorInfo")]
    assert info["reason"] == "RATE_LIMITED"
    assert any(d["@type"].endswith("google.rpc.RetryInfo") for d in err["details"])
    return info["metadata"]["limit"]


async def test_tenant_over_its_limit_gets_429_while_another_tenant_is_served(members_service):
    _, calls = members_service
    env = {"PEONY_GATEWAY_RATE_TENANT_RPS": "0.01", "PEONY_GATEWAY_RATE_TENANT_BURST": "3"}
    # Several people of tenant A, so the per-token limit is not what stops them.
    tokens_a = [_token("tenant-a", f"user:{i}") for i in range(5)]
    token_b = _token("tenant-b")
    async with gateway(members_service, **env) as client:
        for token in tokens_a[:3]:
            resp = await client.get("/v1/members/m1", headers=_auth(token))
            assert resp.status == 200

        # Same gateway, same moment: A's next requests are refused, B's is served.
        a1, a2, b = await asyncio.gather(
            client.get("/v1/members/m1", headers=_auth(tokens_a[3])),
            client.get("/v1/members/m1", headers=_auth(tokens_a[4])),
            client.get("/v1/members/m1", headers=_auth(token_b)),
        )
        assert b.status == 200
        for resp in (a1, a2):
            assert resp.status == 429
            assert _rate_limited(await resp.json()) == "tenant"
            assert 90 <= int(resp.headers["Retry-After"]) <= 100  # one token at 0.01/s

    # The refused requests never reached the backend.
    assert [calls[f"Bearer {t}"] for t in tokens_a] == [1, 1, 1, 0, 0]
    assert calls[f"Bearer {token_b}"] == 1


async def test_per_token_limit(members_service):
    _, calls = members_service
    env = {"PEONY_GATEWAY_RATE_TOKEN_RPS": "0.01", "PEONY_GATEWAY_RATE_TOKEN_BURST": "2"}
    noisy, quiet = _token("tenant-c", "user:noisy"), _token("tenant-c", "user:quiet")
    async with gateway(members_service, **env) as client:
        statuses = [(await client.get("/v1/members/m1", headers=_auth(noisy))).status for _ in range(4)]
        assert statuses == [200, 200, 429, 429]
        resp = await client.get("/v1/members/m1", headers=_auth(noisy))
        assert _rate_limited(await resp.json()) == "token"
        # Another token of the same tenant still has its own budget.
        assert (await client.get("/v1/members/m1", headers=_auth(quiet))).status == 200
    assert calls[f"Bearer {noisy}"] == 2


async def test_a_forged_token_cannot_drain_the_tenant_it_names(members_service):
    _, calls = members_service
    env = {
        "PEONY_GATEWAY_RATE_TENANT_RPS": "0.01",
        "PEONY_GATEWAY_RATE_TENANT_BURST": "2",
        "PEONY_GATEWAY_RATE_ANON_TOTAL_RPS": "0.01",
        "PEONY_GATEWAY_RATE_ANON_TOTAL_BURST": "4",
    }
    forged = _token("tenant-x", "user:mallory", secret="not-the-peony-secret-but-long-enough-for-hs256")
    real = _token("tenant-x")
    async with gateway(members_service, **env) as client:
        # Not verified, so anonymous: it spends the anonymous budget, then is refused as anonymous.
        statuses = [(await client.get("/v1/members/m1", headers=_auth(forged))).status for _ in range(5)]
        assert statuses == [200, 200, 200, 200, 429]
        resp = await client.get("/v1/members/m1", headers=_auth(forged))
        assert _rate_limited(await resp.json()) == "anonymous"
        # Tenant X's own budget is untouched.
        for _ in range(2):
            assert (await client.get("/v1/members/m1", headers=_auth(real))).status == 200
        resp = await client.get("/v1/members/m1", headers=_auth(real))
        assert resp.status == 429
        assert _rate_limited(await resp.json()) == "tenant"
    assert calls[f"Bearer {forged}"] == 4
    assert calls[f"Bearer {real}"] == 2


async def test_unauthenticated_requests_have_a_small_bucket_per_client(members_service):
    _, calls = members_service
    env = {"PEONY_GATEWAY_RATE_ANON_IP_RPS": "0.01", "PEONY_GATEWAY_RATE_ANON_IP_BURST": "2"}
    token = _token("tenant-d")
    before = calls[""]
    async with gateway(members_service, **env) as client:
        statuses = [(await client.get("/v1/members/m1")).status for _ in range(3)]
        assert statuses == [200, 200, 429]  # (a real service would answer the first two 401)
        resp = await client.get("/v1/members/m1", headers={"Authorization": "Bearer not-a-jwt"})
        assert _rate_limited(await resp.json()) == "anonymous"
        # A tenant with a valid token is not behind the unauthenticated flood.
        resp = await client.get("/v1/members/m1", headers=_auth(token))
        assert resp.status == 200, await resp.text()
    assert calls[""] == before + 2


async def test_real_route_shed_by_its_backend_is_429_with_retry_after(members_service):
    _, calls = members_service
    token = _token("tenant-f")
    async with gateway(members_service) as client:
        resp = await client.get(f"/v1/{SHED_MEMBER}", headers=_auth(token))
        assert resp.status == 429
        assert resp.headers["Retry-After"] == "2"  # 1.5 s rounded up
        err = (await resp.json())["error"]
        assert err["status"] == "RESOURCE_EXHAUSTED"
        (info,) = [d for d in err["details"] if d["@type"].endswith("google.rpc.ErrorInfo")]
        assert info["reason"] == "OVERLOADED"
    assert calls[f"Bearer {token}"] == 1  # not retried
