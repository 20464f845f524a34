"""Bad input through the real gateway in front of the real members and booking services: always a
400 in the gateway's error shape, never a 500, and nothing written.

Malformed ids (a UUID-keyed resource named with something else, NUL in a path segment), NUL in a
body or query string, malformed JSON, wrong JSON types and unknown fields.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
from aiohttp.test_utils import TestClient, TestServer
from peony.booking.v1 import booking_service_pb2
from peony.members.v1 import members_service_pb2
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from gateway.app import build_app
from kit.auth import mint_dev_token
from kit.config import load_config, to_async_url
from services.members.entrypoints.app import build as build_members
from tests.integration.gateway.conftest import gateway_config
from tests.support.booking import running_booking

pytestmark = pytest.mark.integration
TENANT = "edge-gw"
AUTH = {"Authorization": f"Bearer {mint_dev_token(tenant=TENANT, subject='user:t', roles=['hq_admin'])}"}


@pytest.fixture(scope="module")
async def stack(infra):
    url = to_async_url(await infra.amigrated_database("members", "members_edge"))
    members = await build_members(
        load_config(
            "members",
            {
                "PEONY_MEMBERS_DATABASE_URL": url,
                "PEONY_NATS_URL": infra.nats_url,
                "PEONY_MEMBERS_GRPC_PORT": "0",
                "PEONY_SHUTDOWN_GRACE_SECONDS": "2",
            },
        )
    )
    members_port = await members.start()
    members_db = create_async_engine(url)
    async with running_booking(infra, "booking_edge") as booking:
        members_addr = f"127.0.0.1:{members_port}"
        config = gateway_config(members_addr, members_addr)
        config = dataclasses.replace(
            config,
            service_addrs={
                **config.service_addrs,
                "booking": f"127.0.0.1:{booking.port}",
                "members": members_addr,
            },
        )
        services = [
            (members_service_pb2.DESCRIPTOR.services_by_name["MembersService"], "members"),
            (booking_service_pb2.DESCRIPTOR.services_by_name["BookingService"], "booking"),
        ]
        async with TestClient(TestServer(build_app(config, services=services))) as client:
            yield client, members_db, booking.engine
    await members_db.dispose()
    await members.stop()


async def _count(engine, table: str) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()  # noqa: S608


async def expect_400(resp, *, field: str | None = None) -> dict:
    body = await resp.text()
    assert resp.status == 400, body
    payload = json.loads(body)
    assert payload["error"]["code"] == 400 and payload["error"]["status"] == "INVALID_ARGUMENT", payload
    if field is not None:
        fields = [
            v["field"] for d in payload["error"].get("details", []) for v in d.get("fieldViolations", [])
        ]
        assert field in fields, payload
    return payload


@pytest.mark.parametrize(
    ("method", "path", "field"),
    [
        ("GET", "/v1/members/not-a-valid-id", "name"),
        ("GET", "/v1/members/not-a-valid-id/cards", "parent"),
        ("POST", "/v1/members/not-a-valid-id/cards/also-not:freeze", "name"),
        ("GET", "/v1/appointments/not-a-uuid", "name"),
        ("GET", "/v1/appointments/not-a-uuid/feedback", "name"),
        ("GET", "/v1/services/%00", "name"),
        ("GET", "/v1/stores/s%001", "name"),
    ],
)
async def test_malformed_ids_are_400_not_500(stack, method, path, field):
    """Refused by the parse of the name (a field violation naming it), before the database."""
    client, _, _ = stack
    kwargs = {"json": {"requestId": "r-1", "reason": "lost"}} if method == "POST" else {}
    await expect_400(await client.request(method, path, headers=AUTH, **kwargs), field=field)


async def test_nul_and_control_characters_in_a_body_or_query_are_400_and_write_nothing(stack):
    client, members_db, _ = stack
    before = await _count(members_db, "stores")
    resp = await client.post(
        "/v1/stores",
        params={"storeId": "s-nul", "requestId": "r-nul-1"},
        json={"displayName": "Peony\u0000 Jing'an", "timeZone": "Asia/Shanghai"},
        headers=AUTH,
    )
    await expect_400(resp, field="store.display_name")
    resp = await client.get("/v1/members", params={"displayNamePrefix": "a\u0000"}, headers=AUTH)
    await expect_400(resp, field="display_name_prefix")
    resp = await client.get("/v1/services", params={"category": "x" * 300}, headers=AUTH)
    await expect_400(resp, field="category")
    assert await _count(members_db, "stores") == before


@pytest.mark.parametrize(
    "body",
    [
        b'{"displayName": "Peony",',  # malformed JSON
        b"[1, 2]",  # not an object
        b'{"displayName": 42}',  # wrong type
        b'{"openingHours": {"dayOfWeek": 1}}',  # an object where a list is expected
        b'{"displayName": "Peony", "noSuchField": 1}',  # unknown field
        b"\xff\xfe not utf-8",
        b'{"displayName": NaN}',
        b'{"openingHours": [{"dayOfWeek": 1e400}]}',  # a number no integer field can hold
        b'{"displayName": "\\ud800"}',  # an unpaired surrogate
        b'{"openingHours": ' + b"[" * 20000 + b"]" * 20000 + b"}",  # nesting past the parser's depth
    ],
)
async def test_bad_json_is_400(stack, body):
    client, members_db, _ = stack
    before = await _count(members_db, "stores")
    resp = await client.post(
        "/v1/stores",
        params={"storeId": "s-json", "requestId": "r-json"},
        data=body,
        headers={**AUTH, "Content-Type": "application/json"},
    )
    await expect_400(resp)
    assert await _count(members_db, "stores") == before


@pytest.mark.parametrize(
    "query",
    [
        "pageSize=abc",
        "pageSize=99999999999999999999",
        "noSuchField=1",
        "tierId=a&tierId=b",
        "homeStore=%ff",
        "pageToken=not-a-token",
    ],
)
async def test_bad_query_strings_are_400(stack, query):
    client, _, _ = stack
    await expect_400(await client.get(f"/v1/members?{query}", headers=AUTH))


async def test_the_same_calls_with_good_input_succeed(stack):
    """The refusals above are about the input: the same routes answer normally with good input."""
    client, _, _ = stack
    resp = await client.post(
        "/v1/stores",
        params={"storeId": "s-good", "requestId": "r-good"},
        json={"displayName": "Peony Jing'an\twest", "timeZone": "Asia/Shanghai"},
        headers=AUTH,
    )
    assert resp.status == 200, await resp.text()
    resp = await client.get("/v1/members/0190a3f2-0000-7000-8000-000000000000", headers=AUTH)
    assert resp.status == 404, await resp.text()
    resp = await client.get("/v1/appointments/0190a3f2-0000-7000-8000-000000000000", headers=AUTH)
    assert resp.status == 404, await resp.text()
