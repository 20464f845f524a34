from __future__ import annotations

import asyncio

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from opentelemetry.trace import SpanKind

import gateway.app as gateway_app
from gateway.app import build_app, serve
from tests.integration.gateway.conftest import MAX_BYTES, free_port, gateway_config

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_SPAN = "b7ad6b7169203331"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_SPAN}-01"


def _assert_error(body: dict, http: int, status: str) -> dict:
    assert set(body) == {"error"}
    err = body["error"]
    assert err["code"] == http
    assert err["status"] == status
    assert isinstance(err["message"], str)
    assert isinstance(err["details"], list)
    return err


def _violations(err: dict) -> dict[str, str]:
    out = {}
    for d in err["details"]:
        if d["@type"].endswith("google.rpc.BadRequest"):
            out.update({v["field"]: v["description"] for v in d["fieldViolations"]})
    return out


# --------------------------------------------------------------------------------------------
# Happy path, metadata and tracing


async def test_get_forwards_metadata_and_continues_trace(client, members_backend, span_exporter):
    span_exporter.clear()
    resp = await client.get(
        "/v1/members/abc",
        headers={
            "Authorization": "Bearer token-123",
            "X-Request-Id": "req-42",
            "traceparent": TRACEPARENT,
            "Cookie": "session=1",
        },
    )
    assert resp.status == 200
    assert resp.content_type == "application/json"
    body = await resp.json()
    assert body["name"] == "members/abc"
    assert body["displayName"] == "Ann"
    assert body["points"] == "12345678901234567"
    assert body["tier"] == "TIER_GOLD"
    assert body["createdAt"] == "2024-01-01T00:00:00Z"

    name, request, metadata = members_backend.recorder.last()
    assert name == "GetMember" and request.name == "members/abc"
    assert metadata["authorization"] == "Bearer token-123"
    assert metadata["x-request-id"] == "req-42"
    assert "cookie" not in metadata
    assert 0 < int(metadata["peony-timeout-ms"]) <= 60_000  # the call's budget, for load shedding
    forwarded = metadata["traceparent"].split("-")
    assert forwarded[1] == TRACE_ID
    assert forwarded[2] != PARENT_SPAN  # the gateway's client span is the backend's parent

    assert resp.headers["X-Trace-Id"] == TRACE_ID
    assert resp.headers["traceparent"].startswith(f"00-{TRACE_ID}-")
    assert resp.headers["X-Request-Id"] == "req-42"

    spans = span_exporter.get_finished_spans()
    server = next(s for s in spans if s.kind == SpanKind.SERVER and s.name == "GET /v1/{name=members/*}")
    assert server.context.trace_id == int(TRACE_ID, 16)
    assert server.parent is not None and server.parent.span_id == int(PARENT_SPAN, 16)
    assert server.attributes["http.request.method"] == "GET"
    assert server.attributes["http.route"] == "/v1/{name=members/*}"
    assert server.attributes["url.path"] == "/v1/{name=members/*}"
    assert server.attributes["http.response.status_code"] == 200
    assert resp.headers["traceparent"] == f"00-{TRACE_ID}-{server.context.span_id:016x}-01"
    clients = [s for s in spans if s.kind == SpanKind.CLIENT and s.context.trace_id == int(TRACE_ID, 16)]
    assert clients, "no CLIENT span for the backend call"
    assert clients[0].parent.span_id == server.context.span_id
    assert forwarded[2] == f"{clients[0].context.span_id:016x}"


async def test_new_trace_when_no_traceparent(client, members_backend):
    resp = await client.get("/v1/members/abc")
    assert resp.status == 200
    trace_id = resp.headers["X-Trace-Id"]
    assert len(trace_id) == 32 and trace_id != TRACE_ID
    _, _, metadata = members_backend.recorder.last()
    assert metadata["traceparent"].split("-")[1] == trace_id
    assert "authorization" not in metadata


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "rpc", "check"),
    [
        (
            "GET",
            "/v1/members",
            {
                "params": [
                    ("pageSize", "7"),
                    ("tags", "a"),
                    ("tags", "b"),
                    ("filter.city", "Riga"),
                    ("tier", "2"),
                ]
            },
            "ListMembers",
            lambda r: (r.page_size, list(r.tags), r.filter.city, r.tier) == (7, ["a", "b"], "Riga", 2),
        ),
        ("GET", "/v1/salons/s1/members", {}, "ListMembers", lambda r: r.parent == "salons/s1"),
        (
            "POST",
            "/v1/members",
            {
                "params": {"memberId": "m9", "validateOnly": "true"},
                "json": {"displayName": "Bo", "phone": "+371"},
            },
            "CreateMember",
            lambda r: (
                (r.member_id, r.validate_only, r.member.display_name, r.member.phone)
                == ("m9", True, "Bo", "+371")
            ),
        ),
        (
            "PATCH",
            "/v1/members/m1",
            {"params": {"updateMask": "displayName"}, "json": {"displayName": "Cy", "name": "members/x"}},
            "UpdateMember",
            lambda r: (
                (r.member.name, r.member.display_name, list(r.update_mask.paths))
                == ("members/m1", "Cy", ["display_name"])
            ),
        ),
        (
            "POST",
            "/v1/members/m1:replace",
            {"json": {"member": {"displayName": "Di"}, "updateMask": "displayName,address.city"}},
            "ReplaceMember",
            lambda r: (
                (r.name, r.member.display_name, list(r.update_mask.paths))
                == ("members/m1", "Di", ["display_name", "address.city"])
            ),
        ),
        ("DELETE", "/v1/members/m1", {"params": {"force": "1"}}, "DeleteMember", lambda r: r.force),
        (
            "POST",
            "/v1/members/m1/cards/c7:reportLost",
            {"json": {"reason": "stolen"}},
            "ReportLostCard",
            lambda r: (r.name, r.reason) == ("members/m1/cards/c7", "stolen"),
        ),
        (
            "GET",
            "/v1/members/m1/cards",
            {"params": {"page_size": "3"}},
            "ListCards",
            lambda r: r.page_size == 3,
        ),
        ("GET", "/v1/tierLadder", {}, "GetTierLadder", lambda r: r.name == "tierLadder"),
        (
            "GET",
            "/v1/members:findByPhone",
            {"params": {"phone": "+1 555"}},
            "FindByPhone",
            lambda r: r.phone == "+1 555",
        ),
        (
            "POST",
            "/v1/members:findByPhone",
            {"json": {"phone": "+2"}},
            "FindByPhone",
            lambda r: r.phone == "+2",
        ),
        ("GET", "/v1/files/a/b/c.txt", {}, "GetFile", lambda r: r.path == "files/a/b/c.txt"),
        ("GET", "/v1/files/a/b:download", {}, "GetFile", lambda r: r.path == "files/a/b"),
        (
            "PUT",
            "/v1/members/m1/settings",
            {"json": {"smsOptIn": True, "locale": "lv"}},
            "UpdateSettings",
            lambda r: (r.name, r.settings.sms_opt_in, r.settings.locale) == ("members/m1", True, "lv"),
        ),
        ("POST", "/v1/members/m1:addNote", {"json": "likes tea"}, "AddNote", lambda r: r.note == "likes tea"),
        ("PURGE", "/v1/cache/k%201", {}, "Purge", lambda r: r.key == "k 1"),
    ],
)
async def test_binding_shapes(client, members_backend, method, path, kwargs, rpc, check):
    resp = await client.request(method, path, **kwargs)
    assert resp.status == 200, await resp.text()
    name, request, _ = members_backend.recorder.last()
    assert name == rpc
    assert check(request), request


async def test_response_shapes(client):
    body = await (await client.get("/v1/members", params={"pageSize": "2"})).json()
    assert body == {
        "members": [
            {
                "name": "members/a",
                "displayName": "",
                "phone": "",
                "tier": "TIER_UNSPECIFIED",
                "points": "0",
                "active": False,
                "tags": [],
            }
        ],
        "nextPageToken": "size=2",
        "echoParent": "",
    }
    assert await (await client.delete("/v1/members/m1")).json() == {}
    assert await (await client.get("/v1/tierLadder/names")).json() == ["SILVER", "GOLD"]


async def test_second_backend(client, notify_backend):
    resp = await client.get("/v1/ping/hello", headers={"Authorization": "Bearer t"})
    assert resp.status == 200
    assert await resp.json() == {"word": "hello"}
    name, request, metadata = notify_backend.recorder.last()
    assert (name, request.word, metadata["authorization"]) == ("Ping", "hello", "Bearer t")


# --------------------------------------------------------------------------------------------
# Errors


async def test_backend_rich_error(client):
    resp = await client.post(
        "/v1/members/m1:fail", json={"code": "FAILED_PRECONDITION", "message": "card lost"}
    )
    assert resp.status == 400
    err = _assert_error(await resp.json(), 400, "FAILED_PRECONDITION")
    assert err["message"] == "card lost"
    assert err["details"] == [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "CARD_ALREADY_LOST",
            "domain": "peony.dev",
            "metadata": {"member": "members/m1"},
        },
        {
            "@type": "type.googleapis.com/google.rpc.BadRequest",
            "fieldViolations": [{"field": "card_id", "description": "card is already reported lost"}],
        },
    ]


@pytest.mark.parametrize(
    ("code", "http"),
    [
        ("INVALID_ARGUMENT", 400),
        ("UNAUTHENTICATED", 401),
        ("PERMISSION_DENIED", 403),
        ("NOT_FOUND", 404),
        ("ALREADY_EXISTS", 409),
        ("ABORTED", 409),
        ("RESOURCE_EXHAUSTED", 429),
        ("UNIMPLEMENTED", 501),
        ("UNAVAILABLE", 503),
    ],
)
async def test_backend_error_codes(client, code, http):
    resp = await client.post("/v1/members/m1:fail", json={"code": code, "message": "nope"})
    assert resp.status == http
    err = _assert_error(await resp.json(), http, code)
    assert err["message"] == "nope"


async def test_backend_internal_error_is_opaque(client):
    resp = await client.post(
        "/v1/members/m1:fail",
        json={"code": "INTERNAL", "message": 'Traceback (most recent call last): File "/x.py"'},
    )
    assert resp.status == 500
    err = _assert_error(await resp.json(), 500, "INTERNAL")
    assert err["message"] == "internal error"
    assert "Traceback" not in await resp.text()


async def test_backend_unhandled_exception(client):
    resp = await client.get("/v1/members/crash")
    assert resp.status == 500
    text = await resp.text()
    assert "secret internal detail" not in text and "KeyError" not in text
    _assert_error(await resp.json(), 500, "UNKNOWN")


async def test_backend_plain_not_found(client):
    resp = await client.get("/v1/members/missing")
    err = _assert_error(await resp.json(), 404, "NOT_FOUND")
    assert err["message"] == "member members/missing not found"


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "field"),
    [
        ("GET", "/v1/members", {"params": {"pageSize": "ten"}}, "pageSize"),
        ("GET", "/v1/members", {"params": {"unknownThing": "1"}}, "unknownThing"),
        ("GET", "/v1/members", {"params": {"tier": "TIER_DIAMOND"}}, "tier"),
        ("GET", "/v1/members", {"params": {"active": "maybe"}}, "active"),
        (
            "PATCH",
            "/v1/members/m1",
            {"data": b"{not json", "headers": {"Content-Type": "application/json"}},
            "body",
        ),
        ("PATCH", "/v1/members/m1", {"json": {"points": "lots"}}, "member.points"),
        ("PATCH", "/v1/members/m1", {"json": {"favouriteColour": "red"}}, "member.favouriteColour"),
        ("POST", "/v1/members/m1:replace", {"json": [1, 2]}, "body"),
        ("POST", "/v1/members/m1:replace", {"json": {}, "params": {"x": "1"}}, "x"),
        ("GET", "/v1/members/m1", {"json": {"x": 1}}, "body"),
        ("GET", "/v1/ping/%FF", {}, "path"),
        ("GET", "/v1/members/m1", {"headers": {"X-Request-Timeout": "soon"}}, "X-Request-Timeout"),
    ],
)
async def test_bad_requests_never_reach_the_backend(
    client, members_backend, notify_backend, method, path, kwargs, field
):
    before = len(members_backend.recorder.calls) + len(notify_backend.recorder.calls)
    resp = await client.request(method, path, **kwargs)
    assert resp.status == 400
    err = _assert_error(await resp.json(), 400, "INVALID_ARGUMENT")
    assert field in _violations(err), err
    assert len(members_backend.recorder.calls) + len(notify_backend.recorder.calls) == before


async def test_unknown_route_is_json_404(client):
    resp = await client.get("/v2/nothing/here")
    assert resp.status == 404
    err = _assert_error(await resp.json(), 404, "NOT_FOUND")
    assert err["details"][0]["reason"] == "NO_ROUTE"
    assert "X-Trace-Id" in resp.headers


async def test_wrong_method_is_405_with_allow(client):
    resp = await client.post("/v1/members/abc")
    assert resp.status == 405
    assert resp.headers["Allow"] == "DELETE, GET, PATCH"
    _assert_error(await resp.json(), 405, "UNIMPLEMENTED")
    resp = await client.get("/v1/members/abc:replace")
    assert resp.status == 405
    assert resp.headers["Allow"] == "POST"


async def test_body_too_large_is_413(client, members_backend):
    before = len(members_backend.recorder.calls)
    big = {"reason": "x" * (MAX_BYTES + 10)}
    resp = await client.post("/v1/members/m1/cards/c1:reportLost", json=big)
    assert resp.status == 413
    err = _assert_error(await resp.json(), 413, "RESOURCE_EXHAUSTED")
    assert err["details"][0]["reason"] == "REQUEST_TOO_LARGE"

    async def chunks():
        for _ in range(20):
            yield b" " * 8192

    resp = await client.post("/v1/members/m1/cards/c1:reportLost", data=chunks())
    assert resp.status == 413
    _assert_error(await resp.json(), 413, "RESOURCE_EXHAUSTED")
    assert len(members_backend.recorder.calls) == before


async def test_deadline_from_header(client):
    resp = await client.get("/v1/slow", params={"sleepMs": "2000"}, headers={"X-Request-Timeout": "0.2"})
    assert resp.status == 504
    _assert_error(await resp.json(), 504, "DEADLINE_EXCEEDED")
    resp = await client.get("/v1/slow", params={"sleepMs": "10"}, headers={"X-Request-Timeout": "600"})
    assert resp.status == 200  # capped at 60 s, not rejected


async def test_access_log_has_no_query_body_or_auth(client, monkeypatch):
    lines: list[tuple[str, dict]] = []

    class Capture:
        def info(self, event, **kw):
            lines.append((event, kw))

        warning = exception = info

    monkeypatch.setattr(gateway_app, "log", Capture())
    monkeypatch.setattr(gateway_app, "access_log", Capture())  # the access line's logger
    await client.get(
        "/v1/members", params={"filter.city": "SecretTown"}, headers={"Authorization": "Bearer sekrit"}
    )
    await client.post("/v1/members", json={"displayName": "Private Person"})
    access = [kw for event, kw in lines if event == "http.access"]
    assert [a["route"] for a in access] == ["/v1/members", "/v1/members"]
    assert [a["status"] for a in access] == [200, 200]
    assert all(
        a["method"] in ("GET", "POST") and a["duration_ms"] >= 0 and len(a["trace_id"]) == 32 for a in access
    )
    rendered = repr(lines)
    assert "SecretTown" not in rendered and "sekrit" not in rendered and "Private Person" not in rendered


# --------------------------------------------------------------------------------------------
# Probes, backend down, shutdown


async def test_healthz_and_readyz(client):
    resp = await client.get("/healthz")
    assert (resp.status, await resp.json()) == (200, {"status": "ok"})
    resp = await client.get("/readyz")
    assert resp.status == 200
    assert await resp.json() == {"status": "ok", "backends": {"members": "SERVING", "notify": "SERVING"}}


async def test_backend_down_503_while_the_gateway_stays_ready(proto, members_backend):
    dead = f"127.0.0.1:{free_port()}"
    config = gateway_config(members_backend.addr, dead)
    app = build_app(config, services=[(proto.members, "members"), (proto.ping, "notify")])
    async with TestClient(TestServer(app)) as c:
        resp = await c.get("/v1/ping/x")
        assert resp.status == 503
        err = _assert_error(await resp.json(), 503, "UNAVAILABLE")
        assert dead not in await resp.text()
        assert err["details"][0]["metadata"] == {"service": "notify"}
        # One backend down does not take the gateway out of its Service: it can still serve.
        resp = await c.get("/readyz")
        assert resp.status == 200
        body = await resp.json()
        assert body["status"] == "degraded" and body["notReady"] == ["notify"]
        assert body["backends"]["members"] == "SERVING"
        # the healthy backend still works
        assert (await c.get("/v1/members/abc")).status == 200


async def test_a_not_serving_backend_fails_only_its_routes(proto, members_backend, notify_backend):
    from grpc_health.v1 import health_pb2

    config = gateway_config(members_backend.addr, notify_backend.addr)
    app = build_app(config, services=[(proto.members, "members"), (proto.ping, "notify")])
    async with TestClient(TestServer(app)) as c:
        await notify_backend.health.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
        try:
            resp = await c.get("/readyz")
            assert resp.status == 200
            body = await resp.json()
            # The channel's health checking takes a NOT_SERVING replica out of the rotation, so
            # the probe through it finds no replica to ask: UNAVAILABLE (NOT_SERVING on a race).
            assert body["backends"]["notify"] in ("NOT_SERVING", "UNAVAILABLE"), body
            assert body["notReady"] == ["notify"]
            # ... and its routes answer 503 naming it, while members' routes keep working.
            resp = await c.get("/v1/ping/x")
            assert resp.status == 503
            assert (await resp.json())["error"]["details"][0]["metadata"] == {"service": "notify"}
            assert (await c.get("/v1/members/abc")).status == 200
        finally:
            await notify_backend.health.set("", health_pb2.HealthCheckResponse.SERVING)


async def test_serve_drains_in_flight_requests(proto, members_backend, notify_backend):
    config = gateway_config(members_backend.addr, notify_backend.addr)
    stop, started = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(
        serve(
            config, services=[(proto.members, "members"), (proto.ping, "notify")], stop=stop, started=started
        )
    )
    await asyncio.wait_for(started.wait(), 5)
    base = f"http://{config.service_addrs['gateway']}"
    async with aiohttp.ClientSession() as session:
        assert (await session.get(f"{base}/readyz")).status == 200
        slow = asyncio.create_task(session.get(f"{base}/v1/slow", params={"sleepMs": "500"}))
        await asyncio.sleep(0.15)
        stop.set()  # what SIGTERM does
        resp = await slow
        assert resp.status == 200  # the in-flight request finished
        await asyncio.wait_for(task, 10)
        with pytest.raises(aiohttp.ClientConnectionError):
            await session.get(f"{base}/healthz")


async def test_probe_wrong_method_is_json(client):
    resp = await client.post("/healthz")
    assert resp.status == 404  # falls through to the generated routes, which have no /healthz
    _assert_error(await resp.json(), 404, "NOT_FOUND")


async def test_caller_provided_channel_is_used_and_not_closed(proto, members_backend, notify_backend):
    import grpc

    config = gateway_config(members_backend.addr, notify_backend.addr)
    channel = grpc.aio.insecure_channel(members_backend.addr)
    try:
        app = build_app(
            config,
            channels={"members": channel},
            services=[(proto.members, "members"), (proto.ping, "notify")],
        )
        async with TestClient(TestServer(app)) as c:
            resp = await c.get("/v1/members/abc", headers={"Authorization": "Bearer c"})
            assert resp.status == 200
            assert (await c.get("/v1/ping/x")).status == 200  # the gateway's own channel for notify
        # still open after the app's cleanup: the caller owns it
        stub = channel.unary_unary(
            "/gwtest.v1.MemberTestService/GetMember",
            request_serializer=proto.pb2.GetMemberRequest.SerializeToString,
            response_deserializer=proto.pb2.Member.FromString,
        )
        assert (await stub(proto.pb2.GetMemberRequest(name="members/z"), timeout=5)).name == "members/z"
    finally:
        await channel.close()


async def test_readyz_without_routes_is_not_ready(members_backend, notify_backend):
    config = gateway_config(members_backend.addr, notify_backend.addr)
    async with TestClient(TestServer(build_app(config, services=[]))) as c:
        resp = await c.get("/readyz")
        assert resp.status == 503
        assert (await resp.json())["status"] == "no_routes"


async def test_sigterm_stops_serve(proto, members_backend, notify_backend):
    import os
    import signal

    config = gateway_config(members_backend.addr, notify_backend.addr)
    started = asyncio.Event()
    task = asyncio.create_task(
        serve(config, services=[(proto.members, "members"), (proto.ping, "notify")], started=started)
    )
    await asyncio.wait_for(started.wait(), 5)
    if signal.getsignal(signal.SIGTERM) in (
        signal.SIG_DFL,
        None,
    ):  # handler not installed: do not kill pytest
        stop_task = task.cancel()
        pytest.skip(f"no SIGTERM handler in this environment ({stop_task})")
    os.kill(os.getpid(), signal.SIGTERM)
    await asyncio.wait_for(task, 10)
    assert signal.getsignal(signal.SIGTERM) is not None


async def test_unknown_http_method_is_low_cardinality(client, span_exporter):
    span_exporter.clear()
    resp = await client.request("PROPFIND", "/v1/members")  # known to llhttp, not to us
    assert resp.status == 405
    server = [s for s in span_exporter.get_finished_spans() if s.kind == SpanKind.SERVER][-1]
    assert server.name == "_OTHER"
    assert server.attributes["http.request.method"] == "_OTHER"
    assert server.attributes["http.route"] == "/v1/members"
