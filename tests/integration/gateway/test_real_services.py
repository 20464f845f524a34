"""Every HTTP route of the real Peony services, end to end against a generic echo backend.

The backend serves each registered service through a generic handler that records the request
and answers with an empty response of the right type, so this checks the gateway's side of the
contract (routing, transcoding, forwarding, JSON) for every annotated method without running the
real services.
"""

from __future__ import annotations

import dataclasses

import grpc
import pytest
from aiohttp.test_utils import TestClient, TestServer
from google.protobuf import message_factory
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from gateway.app import build_app
from gateway.routing import compile_routes
from tests.integration.gateway.conftest import gateway_config
from tests.unit.gateway.realroutes import available_services, get_path, sample_path

SERVICES = available_services()


@pytest.fixture(scope="module")
async def echo_backend():
    calls: list[tuple[str, object, dict]] = []

    def handler_for(method):
        request_cls = message_factory.GetMessageClass(method.input_type)
        response_cls = message_factory.GetMessageClass(method.output_type)

        async def handle(request, context):
            calls.append((method.full_name, request, dict(context.invocation_metadata())))
            return response_cls()

        return grpc.unary_unary_rpc_method_handler(
            handle,
            request_deserializer=request_cls.FromString,
            response_serializer=response_cls.SerializeToString,
        )

    server = grpc.aio.server()
    for service, _ in SERVICES:
        handlers = {
            m.name: handler_for(m) for m in service.methods if not (m.client_streaming or m.server_streaming)
        }
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service.full_name, handlers),))
    checker = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(checker, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    await checker.set("", health_pb2.HealthCheckResponse.SERVING)
    yield f"127.0.0.1:{port}", calls
    await server.stop(None)


async def test_every_real_route_end_to_end(echo_backend):
    addr, calls = echo_backend
    config = gateway_config(addr, addr)
    # every backend key points at the one echo server
    addrs = {**config.service_addrs, **{key: addr for _, key in SERVICES}}
    config = dataclasses.replace(config, service_addrs=addrs)
    app = build_app(config, services=SERVICES)
    router = compile_routes(SERVICES)
    async with TestClient(TestServer(app)) as client:
        resp = await client.get("/readyz")
        assert resp.status == 200, await resp.text()
        for route in router.routes:
            sample = sample_path(route)
            kwargs = {"json": {}} if route.body == "*" else {}  # body "<field>": empty body = unset field
            before = len(calls)
            resp = await client.request(
                route.http_method, sample.path, headers={"Authorization": "Bearer t"}, **kwargs
            )
            text = await resp.text()
            assert resp.status == 200, (route, sample.path, text)
            assert len(calls) == before + 1, (route, sample.path)
            name, request, metadata = calls[-1]
            assert name == route.method.full_name
            assert metadata["authorization"] == "Bearer t"
            for dotted, value in sample.expected.items():
                assert str(get_path(request, dotted)) == value, (route, dotted)
