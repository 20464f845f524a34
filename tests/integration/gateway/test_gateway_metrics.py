"""The gateway's own telemetry: an HTTP server duration per route template and a gRPC client
duration per backend call, with the semantic-convention names the dashboards and alerts use."""

from __future__ import annotations

from tests.support.metrics import global_metric_reader, metric_points


async def test_requests_and_backend_calls_are_measured(client, members_backend) -> None:
    reader = global_metric_reader()  # the gateway records on the global meter provider

    def count(name: str, **attributes: object) -> int:
        return sum(p.count for p in metric_points(reader, name, **attributes))

    route = {"http.request.method": "GET", "http.route": "/v1/{name=members/*}"}  # the template
    before_ok = count("http.server.request.duration", **route, **{"http.response.status_code": 200})
    before_404 = count("http.server.request.duration", **{"http.response.status_code": 404})
    # This backend's calls only: other tests in the process record GetMember calls on the same
    # global meter (other targets).
    this_backend = {
        "rpc.method": "GetMember",
        "rpc.grpc.status_code": 0,
        "server.address": members_backend.addr,
    }
    before_calls = count("rpc.client.call.duration", **this_backend)

    assert (await client.get("/v1/members/abc", headers={"Authorization": "Bearer t"})).status == 200
    assert (await client.get("/v1/members/abc", headers={"Authorization": "Bearer t"})).status == 200
    assert (await client.get("/no/such/route/4711")).status == 404

    points = metric_points(reader, "http.server.request.duration")
    routes = {p.attributes.get("http.route") for p in points}
    assert all("abc" not in (r or "") for r in routes), f"a path, not its template, in http.route: {routes}"
    assert (
        count("http.server.request.duration", **route, **{"http.response.status_code": 200}) == before_ok + 2
    )
    assert count("http.server.request.duration", **{"http.response.status_code": 404}) == before_404 + 1
    assert count("rpc.client.call.duration", **this_backend) == before_calls + 2
